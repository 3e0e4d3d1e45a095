package broker

// IncrementalAlterConfigs (key 44), versions 0-1.
//
// Per config: SET (0) sets an override, DELETE (1) removes it (back to the default),
// APPEND (2) and SUBTRACT (3) add/remove items of a LIST config, starting from the
// current value (override, else default). APPEND/SUBTRACT on a non-list config and
// unknown names are INVALID_CONFIG; a name twice in one resource is INVALID_CONFIG; an
// unknown op is INVALID_REQUEST. The resulting set of overrides is validated as a whole,
// persisted and pushed to the partitions. BROKER resources are static (INVALID_REQUEST).

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.IncrementalAlterConfigs, min: 0, max: 1, handle: h((*Broker).handleIncrementalAlterConfigs), authz: hook(authzIncrementalAlterConfigs)})
}

func (b *Broker) handleIncrementalAlterConfigs(ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.IncrementalAlterConfigsResponse)
	type res struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	seen := make(map[res]int)
	for _, rr := range req.Resources {
		seen[res{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		sr := kmsg.NewIncrementalAlterConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		err := func() error {
			if rr.ResourceType == kmsg.ConfigResourceTypeGroupConfig { // share groups' configs (shares.go)
				return b.alterGroupConfigs(ctx, rr, seen[res{rr.ResourceType, rr.ResourceName}] > 1, req.ValidateOnly)
			}
			t, err := b.alterConfigsTarget(rr.ResourceType, rr.ResourceName, seen[res{rr.ResourceType, rr.ResourceName}] > 1)
			if err != nil {
				return err
			}
			overrides := t.configOverrides()
			names := make(map[string]bool, len(rr.Configs))
			for _, c := range rr.Configs {
				if names[c.Name] {
					return fmt.Errorf("%w: config %s given twice", errInvalidConfig, c.Name)
				}
				names[c.Name] = true
				k := topicKeyByName(c.Name)
				if k == nil {
					return fmt.Errorf("%w: unknown topic config name: %s%s", errInvalidConfig, c.Name, didYouMean(c.Name, topicKeyNames()))
				}
				switch c.Op {
				case kmsg.IncrementalAlterConfigOpSet:
					if c.Value == nil {
						return fmt.Errorf("%w: null value not supported for SET of %s", errInvalidConfig, c.Name)
					}
					overrides[c.Name] = normalizeTopicConfig(*c.Value)
				case kmsg.IncrementalAlterConfigOpDelete:
					delete(overrides, c.Name)
				case kmsg.IncrementalAlterConfigOpAppend, kmsg.IncrementalAlterConfigOpSubtract:
					if k.typ != kmsg.ConfigTypeList {
						return fmt.Errorf("%w: config %s is not a list; APPEND/SUBTRACT apply to lists only", errInvalidConfig, c.Name)
					}
					cur, ok := overrides[c.Name]
					if !ok {
						cur, _ = k.defaultValue(&b.cfg)
					}
					items := splitList(cur)
					var vals []string
					if c.Value != nil {
						vals = splitList(*c.Value)
					}
					for _, v := range vals {
						if c.Op == kmsg.IncrementalAlterConfigOpAppend {
							if !slices.Contains(items, v) {
								items = append(items, v)
							}
						} else {
							items = slices.DeleteFunc(items, func(s string) bool { return s == v })
						}
					}
					overrides[c.Name] = strings.Join(items, ",")
				default:
					return fmt.Errorf("%w: unknown config op %d for %s", errInvalidRequest, c.Op, c.Name)
				}
			}
			return b.setTopicConfigs(t, overrides, req.ValidateOnly)
		}()
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func splitList(s string) []string {
	var out []string
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func authzIncrementalAlterConfigs(b *Broker, ctx context.Context, req *kmsg.IncrementalAlterConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.IncrementalAlterConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.IncrementalAlterConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewIncrementalAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.IncrementalAlterConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}
