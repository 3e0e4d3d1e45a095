package broker

// AlterConfigs (key 33), versions 0-2.
//
// The legacy, non-incremental form: the given configs REPLACE all overrides of the topic
// (configs not named return to their defaults). Names and values are validated
// (INVALID_CONFIG); null values are INVALID_CONFIG. Changes are persisted and pushed to
// the partitions. BROKER resources are static in Strata (INVALID_REQUEST); other types
// likewise. A resource named twice in one request is INVALID_REQUEST.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.AlterConfigs, min: 0, max: 2, handle: h((*Broker).handleAlterConfigs), authz: hook(authzAlterConfigs)})
}

func (b *Broker) handleAlterConfigs(ctx context.Context, req *kmsg.AlterConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterConfigsResponse)
	type res struct {
		typ  kmsg.ConfigResourceType
		name string
	}
	seen := make(map[res]int)
	for _, rr := range req.Resources {
		seen[res{rr.ResourceType, rr.ResourceName}]++
	}
	for _, rr := range req.Resources {
		sr := kmsg.NewAlterConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		err := func() error {
			t, err := b.alterConfigsTarget(rr.ResourceType, rr.ResourceName, seen[res{rr.ResourceType, rr.ResourceName}] > 1)
			if err != nil {
				return err
			}
			overrides := make(map[string]string, len(rr.Configs))
			for _, c := range rr.Configs {
				if c.Value == nil {
					return fmt.Errorf("%w: null value not supported for topic config %s", errInvalidConfig, c.Name)
				}
				if _, dup := overrides[c.Name]; dup {
					return fmt.Errorf("%w: config %s given twice", errInvalidConfig, c.Name)
				}
				overrides[c.Name] = normalizeTopicConfig(*c.Value)
			}
			return b.setTopicConfigs(t, overrides, req.ValidateOnly)
		}()
		sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

// alterConfigsTarget checks one resource of an AlterConfigs or IncrementalAlterConfigs
// request (named once, a topic, existing) and returns its topic.
func (b *Broker) alterConfigsTarget(typ kmsg.ConfigResourceType, name string, duplicate bool) (*Topic, error) {
	if duplicate {
		return nil, fmt.Errorf("%w: resource appears more than once in the request", errInvalidRequest)
	}
	switch typ {
	case kmsg.ConfigResourceTypeTopic:
	case kmsg.ConfigResourceTypeBroker:
		return nil, fmt.Errorf("%w: broker configs are static in Strata; edit the config file", errInvalidRequest)
	default:
		return nil, fmt.Errorf("%w: unsupported resource type %v", errInvalidRequest, typ)
	}
	t := b.lookupTopic(name)
	if t == nil {
		return nil, errUnknownTopic
	}
	return t, nil
}

func authzAlterConfigs(b *Broker, ctx context.Context, req *kmsg.AlterConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.AlterConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.AlterConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationAlterConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewAlterConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.AlterConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}
