package broker

// UpdateFeatures (key 57), versions 0-2, as a Kafka 4.x controller answers it.
//
// The finalized feature levels (features.go) are fixed, so an update succeeds only when it
// asks for the level already finalized (a no-op, also with ValidateOnly); every other
// update is refused as Kafka refuses it: an unknown feature, a level outside the supported
// range, an upgrade type other than 1-3 (v1+; v0's AllowDowngrade is upgrade type 2),
// a downgrade without a downgrade type and any metadata.version downgrade (Kafka 4.x
// supports none) are INVALID_UPDATE_VERSION; an upgrade within the supported range cannot
// happen because the finalized level is the highest supported. A feature named twice is
// INVALID_REQUEST. v0-v1 answer per feature (and the response has no error); v2 answers
// with the first error at the top level only. Needs ALTER on the cluster; without it
// CLUSTER_AUTHORIZATION_FAILED.

import (
	"context"
	"fmt"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.UpdateFeatures, min: 0, max: 2, handle: h((*Broker).handleUpdateFeatures), authz: hook(authzUpdateFeatures)})
}

// Upgrade types (KIP-778).
const (
	upgradeTypeUpgrade        = 1
	upgradeTypeSafeDowngrade  = 2
	upgradeTypeUnsafeDowngade = 3
)

func (b *Broker) handleUpdateFeatures(ctx context.Context, req *kmsg.UpdateFeaturesRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	named := make(map[string]bool)
	for _, u := range req.FeatureUpdates {
		if named[u.Feature] {
			msg := fmt.Sprintf("Feature %s was specified more than once.", u.Feature)
			resp.ErrorCode, resp.ErrorMessage, resp.Results = kerr.InvalidRequest.Code, &msg, nil
			return resp, nil
		}
		named[u.Feature] = true
		err, msg := checkFeatureUpdate(req.Version, b.cfg.NodeID, u)
		if req.Version >= 2 {
			if err != nil && resp.ErrorCode == 0 {
				resp.ErrorCode, resp.ErrorMessage = err.Code, &msg
			}
			continue
		}
		r := kmsg.NewUpdateFeaturesResponseResult()
		r.Feature = u.Feature
		if err != nil {
			r.ErrorCode, r.ErrorMessage = err.Code, &msg
		}
		resp.Results = append(resp.Results, r)
	}
	return resp, nil
}

// checkFeatureUpdate returns nil if u asks for the finalized level, else Kafka's error.
func checkFeatureUpdate(version int16, node int32, u kmsg.UpdateFeaturesRequestFeatureUpdate) (*kerr.Error, string) {
	typ := u.UpgradeType
	if version == 0 {
		typ = upgradeTypeUpgrade
		if u.AllowDowngrade {
			typ = upgradeTypeSafeDowngrade
		}
	}
	f := lookupFeature(u.Feature)
	switch {
	case typ < upgradeTypeUpgrade || typ > upgradeTypeUnsafeDowngade:
		return kerr.InvalidUpdateVersion, fmt.Sprintf("Unknown upgrade type %d.", typ)
	case f == nil:
		return kerr.InvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. The controller does not support the given feature.", u.MaxVersionLevel, u.Feature)
	case u.MaxVersionLevel == f.finalized:
		return nil, ""
	case u.MaxVersionLevel < f.min || u.MaxVersionLevel > f.max:
		return kerr.InvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. Local controller %d only supports versions %d-%d", u.MaxVersionLevel, u.Feature, node, f.min, f.max)
	case typ == upgradeTypeUpgrade:
		return kerr.InvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. Can't downgrade the version of this feature without setting the upgrade type to either safe or unsafe downgrade.", u.MaxVersionLevel, u.Feature)
	}
	// A downgrade: the finalized level is the highest supported, so nothing else is left.
	return kerr.InvalidUpdateVersion, fmt.Sprintf("Invalid update version %d for feature %s. Unsafe metadata downgrade is not supported in this version.", u.MaxVersionLevel, u.Feature)
}

func authzUpdateFeatures(b *Broker, ctx context.Context, req *kmsg.UpdateFeaturesRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	if b.clusterAllowed(ctx, kmsg.ACLOperationAlter) {
		return next(req)
	}
	resp := req.ResponseKind().(*kmsg.UpdateFeaturesResponse)
	e := kerr.ClusterAuthorizationFailed
	resp.ErrorCode, resp.ErrorMessage = e.Code, kmsg.StringPtr(e.Description)
	if req.Version < 2 {
		for _, u := range req.FeatureUpdates {
			r := kmsg.NewUpdateFeaturesResponseResult()
			r.Feature, r.ErrorCode, r.ErrorMessage = u.Feature, e.Code, kmsg.StringPtr(e.Description)
			resp.Results = append(resp.Results, r)
		}
	}
	return resp, nil
}
