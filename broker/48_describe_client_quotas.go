package broker

// DescribeClientQuotas (key 48), versions 0-1.
//
// Answers the quotas set with AlterClientQuotas (quota.go) of the entities that match
// the filter, as Kafka does: a component with match type 0 needs the entity to have that
// type with that name, 1 with the default, 2 with any name or the default; with strict,
// the entity has no other types. The filter is validated as Kafka validates it (entity
// types user, client-id and ip, each at most once; a match type of 0 needs a match).
// Needs DESCRIBE_CONFIGS on the cluster (authorized here). `kafka-configs --describe
// --entity-type users|clients` uses it.

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorized in the handler: DESCRIBE_CONFIGS on the cluster.
func init() {
	register(apiEntry{key: kmsg.DescribeClientQuotas, min: 0, max: 1, handle: h((*Broker).handleDescribeClientQuotas), authz: noHook})
}

func (b *Broker) handleDescribeClientQuotas(ctx context.Context, req *kmsg.DescribeClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	if b.authz != nil && !b.clusterAllowed(ctx, kmsg.ACLOperationDescribeConfigs) {
		resp.ErrorCode = kerr.ClusterAuthorizationFailed.Code
		return resp, nil
	}
	if err := validateQuotaFilter(req.Components); err != nil {
		resp.ErrorCode, resp.ErrorMessage = errorCode(err), errorMessage(err)
		return resp, nil
	}
	resp.Entries = []kmsg.DescribeClientQuotasResponseEntry{}
	if b.quotas == nil {
		return resp, nil
	}
	for ent, qs := range b.quotas.current() {
		if !quotaFilterMatches(ent, req.Components, req.Strict) {
			continue
		}
		e := kmsg.NewDescribeClientQuotasResponseEntry()
		add := func(typ string, def bool, name string) {
			c := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			c.Type = typ
			if !def {
				c.Name = &name
			}
			e.Entity = append(e.Entity, c)
		}
		if ent.HasUser {
			add("user", ent.UserDefault, ent.User)
		}
		if ent.HasClient {
			add("client-id", ent.ClientDefault, ent.Client)
		}
		for k, v := range qs {
			val := kmsg.NewDescribeClientQuotasResponseEntryValue()
			val.Key, val.Value = k, v
			e.Values = append(e.Values, val)
		}
		slices.SortFunc(e.Values, func(a, b kmsg.DescribeClientQuotasResponseEntryValue) int { return strings.Compare(a.Key, b.Key) })
		resp.Entries = append(resp.Entries, e)
	}
	slices.SortFunc(resp.Entries, func(a, b kmsg.DescribeClientQuotasResponseEntry) int {
		return strings.Compare(describedEntity(a), describedEntity(b))
	})
	return resp, nil
}

func describedEntity(e kmsg.DescribeClientQuotasResponseEntry) string {
	var sb strings.Builder
	for _, c := range e.Entity {
		sb.WriteString(c.Type)
		if c.Name == nil {
			sb.WriteString("\x00")
		} else {
			sb.WriteString("\x01" + *c.Name)
		}
		sb.WriteString("\xff")
	}
	return sb.String()
}

// quotaFilterMatches applies a (validated) DescribeClientQuotas filter to ent.
func quotaFilterMatches(ent quotaEntity, cs []kmsg.DescribeClientQuotasRequestComponent, strict bool) bool {
	inFilter := map[string]bool{}
	for _, c := range cs {
		inFilter[c.EntityType] = true
		var has, def bool
		var name string
		switch c.EntityType {
		case "user":
			has, def, name = ent.HasUser, ent.UserDefault, ent.User
		case "client-id":
			has, def, name = ent.HasClient, ent.ClientDefault, ent.Client
		default: // ip: no such entities
		}
		if !has {
			return false
		}
		switch c.MatchType {
		case 0:
			if def || name != *c.Match {
				return false
			}
		case 1:
			if !def {
				return false
			}
		}
	}
	if strict && ((ent.HasUser && !inFilter["user"]) || (ent.HasClient && !inFilter["client-id"])) {
		return false
	}
	return true
}

// validateQuotaFilter checks a filter's components with Kafka's rules and messages.
func validateQuotaFilter(cs []kmsg.DescribeClientQuotasRequestComponent) error {
	seen := map[string]bool{}
	for _, c := range cs {
		switch c.EntityType {
		case "user", "client-id", "ip":
		default:
			return fmt.Errorf("%w: Custom entity type '%s' not supported", kerr.InvalidRequest, c.EntityType)
		}
		if seen[c.EntityType] {
			return fmt.Errorf("%w: Duplicate %s filter component entity type", kerr.InvalidRequest, c.EntityType)
		}
		seen[c.EntityType] = true
		switch c.MatchType {
		case 0:
			if c.Match == nil {
				return fmt.Errorf("%w: Unexpected null match for entity type %s", kerr.InvalidRequest, c.EntityType)
			}
		case 1, 2:
			if c.Match != nil {
				return fmt.Errorf("%w: Unexpected match for entity type %s with match type %d", kerr.InvalidRequest, c.EntityType, c.MatchType)
			}
		default:
			return fmt.Errorf("%w: Unknown match type %d", kerr.InvalidRequest, c.MatchType)
		}
	}
	return nil
}
