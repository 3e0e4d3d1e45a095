package broker

// AlterClientQuotas (key 49), versions 0-1.
//
// Sets or removes quota keys of user / client-id entities (quota.go), every entry on its
// own: an entry that fails validation gets INVALID_REQUEST and changes nothing, the valid
// ones are applied together and persisted (meta/quotas.json, then the bucket) before the
// response. validate_only checks without applying. Supported keys: producer_byte_rate,
// consumer_byte_rate (positive integers, bytes/s) and request_percentage (positive);
// ip entities and controller_mutation_rate are refused. Needs ALTER_CONFIGS on the
// cluster. `kafka-configs --alter --entity-type users|clients --add-config ...` uses it.

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Authorized in the handler: ALTER_CONFIGS on the cluster.
func init() {
	register(apiEntry{key: kmsg.AlterClientQuotas, min: 0, max: 1, handle: h((*Broker).handleAlterClientQuotas), authz: noHook})
}

func (b *Broker) handleAlterClientQuotas(ctx context.Context, req *kmsg.AlterClientQuotasRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	denied := b.authz != nil && !b.clusterAllowed(ctx, kmsg.ACLOperationAlterConfigs)
	type change struct {
		ent quotaEntity
		ops []kmsg.AlterClientQuotasRequestEntryOp
		out *kmsg.AlterClientQuotasResponseEntry
	}
	var changes []change
	resp.Entries = make([]kmsg.AlterClientQuotasResponseEntry, len(req.Entries))
	for i, e := range req.Entries {
		out := &resp.Entries[i]
		out.Default()
		for _, c := range e.Entity {
			rc := kmsg.NewAlterClientQuotasResponseEntryEntity()
			rc.Type, rc.Name = c.Type, c.Name
			out.Entity = append(out.Entity, rc)
		}
		if denied {
			out.ErrorCode = kerr.ClusterAuthorizationFailed.Code
			continue
		}
		ent, err := quotaEntityOf(e.Entity)
		if err == nil {
			err = validateQuotaOps(e.Ops)
		}
		if err != nil {
			out.ErrorCode, out.ErrorMessage = kerr.InvalidRequest.Code, errorMessage(err)
			continue
		}
		changes = append(changes, change{ent: ent, ops: e.Ops, out: out})
	}
	if len(changes) == 0 || b.quotas == nil {
		return resp, nil
	}
	err := b.quotas.update(func(c quotaConfigs) error {
		for _, ch := range changes {
			qs := c[ch.ent]
			if qs == nil {
				qs = map[string]float64{}
				c[ch.ent] = qs
			}
			for _, op := range ch.ops {
				if op.Remove {
					delete(qs, op.Key)
				} else {
					qs[op.Key] = op.Value
				}
			}
		}
		return nil
	}, req.ValidateOnly)
	if err != nil {
		b.logger.Error("cannot save client quotas", "err", err)
		for _, ch := range changes {
			ch.out.ErrorCode, ch.out.ErrorMessage = kerr.UnknownServerError.Code, errorMessage(fmt.Errorf("cannot save client quotas: %w", err))
		}
		return resp, nil
	}
	if !req.ValidateOnly {
		for _, ch := range changes {
			b.logger.Info("client quotas changed", "entity", ch.ent.String())
		}
	}
	return resp, nil
}

// quotaEntityOf checks an entity's components as Kafka does.
func quotaEntityOf(cs []kmsg.AlterClientQuotasRequestEntryEntity) (quotaEntity, error) {
	var e quotaEntity
	if len(cs) == 0 {
		return e, errors.New("Invalid empty client quota entity")
	}
	for _, c := range cs {
		switch c.Type {
		case "user":
			if e.HasUser {
				return e, errors.New("Duplicate user entity type in client quota entity")
			}
			e.HasUser = true
			if c.Name == nil {
				e.UserDefault = true
			} else if e.User = *c.Name; e.User == "" {
				return e, errors.New("Empty user name in client quota entity; use the default (null) entity")
			}
		case "client-id":
			if e.HasClient {
				return e, errors.New("Duplicate client-id entity type in client quota entity")
			}
			e.HasClient = true
			if c.Name == nil {
				e.ClientDefault = true
			} else {
				e.Client = *c.Name
			}
		case "ip":
			return e, errors.New("ip quotas (connection_creation_rate) are not supported by Strata")
		default:
			return e, fmt.Errorf("Unhandled client quota entity type: %s", c.Type)
		}
	}
	return e, nil
}

// validateQuotaOps checks the keys and values of one entry's operations.
func validateQuotaOps(ops []kmsg.AlterClientQuotasRequestEntryOp) error {
	seen := map[string]bool{}
	for _, op := range ops {
		switch op.Key {
		case quotaProduce, quotaFetch, quotaRequest:
		case "controller_mutation_rate":
			return errors.New("controller_mutation_rate is not supported by Strata")
		default:
			return fmt.Errorf("Invalid configuration key %s", op.Key)
		}
		if seen[op.Key] {
			return fmt.Errorf("Duplicate quota key %s", op.Key)
		}
		seen[op.Key] = true
		if !op.Remove {
			if err := validQuotaValue(op.Key, op.Value); err != nil {
				return err
			}
		}
	}
	return nil
}
