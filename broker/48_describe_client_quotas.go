package broker

// DescribeClientQuotas (key 48), versions 0-1.
//
// Strata enforces no client quotas and stores none, so every valid request is answered
// with no entries, as Kafka answers when no quota matches. The request is validated as
// Kafka validates it (entity types user, client-id and ip, each at most once; a match type
// of 0 needs a match), and it needs DESCRIBE_CONFIGS on the cluster (authorized here). It
// exists for `kafka-configs --describe --entity-type users`, which asks for quotas beside
// the SCRAM credentials.

import (
	"context"
	"fmt"

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
	return resp, nil
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
