package broker

// Feature flags (KIP-584), as ApiVersions (v3+) reports them and UpdateFeatures changes
// them.
//
// A Kafka 4.x node reports the features it supports (name, min and max level) and the
// cluster's finalized levels. Strata reports one feature, metadata.version, supported at
// 3.3-IV3 (level 7, the lowest Kafka 4.0 accepts) to 4.0-IV3 (level 25, Kafka 4.0's
// newest), and finalized at 4.0-IV3: the level whose client-visible behaviour Strata
// implements. The finalized levels never change (UpdateFeatures can only confirm them), so
// the finalized-features epoch is 0. transaction.version, group.version and the other
// 4.x features are not listed: a client reads an absent feature as level 0, which tells
// a 4.x producer not to use transactions v2 (KIP-890) and claims nothing Strata does not
// do; the transaction and KIP-848 work adds them when it serves them.

import "github.com/twmb/franz-go/pkg/kmsg"

// feature is one supported feature and its finalized level.
type feature struct {
	name      string
	min, max  int16 // supported levels
	finalized int16
}

// features are the features this node supports, by name.
var features = []feature{
	{name: "metadata.version", min: 7, max: 25, finalized: 25},
}

// finalizedFeaturesEpoch is the epoch of the finalized levels: they never change.
const finalizedFeaturesEpoch = 0

func lookupFeature(name string) *feature {
	for i := range features {
		if features[i].name == name {
			return &features[i]
		}
	}
	return nil
}

// fillFeatures sets the feature fields of an ApiVersions response (tagged fields, sent
// from v3).
func fillFeatures(resp *kmsg.ApiVersionsResponse) {
	resp.FinalizedFeaturesEpoch = finalizedFeaturesEpoch
	for _, f := range features {
		sf := kmsg.NewApiVersionsResponseSupportedFeature()
		sf.Name, sf.MinVersion, sf.MaxVersion = f.name, f.min, f.max
		resp.SupportedFeatures = append(resp.SupportedFeatures, sf)
		ff := kmsg.NewApiVersionsResponseFinalizedFeature()
		ff.Name, ff.MinVersionLevel, ff.MaxVersionLevel = f.name, f.finalized, f.finalized
		resp.FinalizedFeatures = append(resp.FinalizedFeatures, ff)
	}
}
