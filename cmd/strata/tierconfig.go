package main

import (
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// tierPrefix starts every configuration key that cmd/strata handles itself (the choice of
// object store and its credentials); the broker never sees these keys.
const tierPrefix = "strata.tier."

// tierConfig is the parsed strata.tier.* configuration.
type tierConfig struct {
	Store  string // strata.tier.store: fs | s3 | none; default fs
	Prefix string // strata.tier.prefix: key prefix in the store; default ""

	FSDir string // strata.tier.fs.dir; default <log.dirs>/tier

	CreateBucket bool // strata.tier.s3.create.bucket: create a missing bucket at start; default false

	EncryptionKeyFile string // strata.tier.encryption.key.file: encrypt every object (tierencrypt.go)

	S3 s3Config
}

// s3Config is the strata.tier.s3.* configuration.
type s3Config struct {
	Bucket       string // strata.tier.s3.bucket (required)
	Endpoint     string // strata.tier.s3.endpoint; default AWS
	Region       string // strata.tier.s3.region; default us-east-1
	PathStyle    bool   // strata.tier.s3.path.style; default false (true is what MinIO wants)
	AccessKey    string // strata.tier.s3.access.key; default the AWS credential chain
	SecretKey    string // strata.tier.s3.secret.key
	SSE          string // strata.tier.s3.sse: "", AES256 or aws:kms
	SSEKMSKeyID  string // strata.tier.s3.sse.kms.key.id
	StorageClass string // strata.tier.s3.storage.class; default the bucket's
	// ObjectLockMode is strata.tier.s3.object.lock.mode: GOVERNANCE or COMPLIANCE puts
	// uploaded segment objects under S3 Object Lock (the bucket must have it enabled), with
	// a retain-until date from the topic's retention.ms; deletes then remove every version.
	ObjectLockMode string
	// ObjectLockUnlimited is strata.tier.s3.object.lock.unlimited.ms: the retention of
	// locked objects of topics with retention.ms=-1 (0: those are not locked).
	ObjectLockUnlimited time.Duration

	// MaxRetryDuration bounds the retries of one request (not a config key: set by the
	// offline commands that must finish, e.g. tier verify); 0 retries until ctx is done.
	MaxRetryDuration time.Duration
}

// tierKeys documents every strata.tier.* key (for --help and the README).
var tierKeys = map[string]string{
	"strata.tier.store":             "object store for sealed segments: fs, s3 or none",
	"strata.tier.prefix":            "key prefix for every object Strata writes (same as remote.log.prefix)",
	"strata.tier.fs.dir":            "directory of the fs store",
	"strata.tier.s3.bucket":         "S3 bucket (required with store=s3)",
	"strata.tier.s3.endpoint":       "S3 endpoint URL, e.g. http://127.0.0.1:9000 for MinIO; empty: AWS",
	"strata.tier.s3.region":         "S3 region",
	"strata.tier.s3.path.style":     "path-style addressing (true for MinIO)",
	"strata.tier.s3.access.key":     "access key id; empty: the AWS SDK default credential chain",
	"strata.tier.s3.secret.key":     "secret access key (never logged)",
	"strata.tier.s3.sse":            "server-side encryption: empty, AES256 or aws:kms",
	"strata.tier.s3.sse.kms.key.id": "KMS key id for sse=aws:kms",
	"strata.tier.s3.storage.class":  "storage class of uploaded objects, e.g. STANDARD_IA; empty: the bucket's default",
	"strata.tier.s3.create.bucket":  "true: create the bucket at start when it does not exist (e.g. a fresh MinIO)",
}

// The S3 Object Lock keys (tiering/objectlock.go), added apart from the list above so that
// its alignment stays as it is (other branches add keys there).
func init() {
	tierKeys["strata.tier.s3.object.lock.mode"] = "S3 Object Lock of uploaded segment objects: empty, GOVERNANCE or COMPLIANCE (the bucket must have object lock enabled); retain-until = segment max timestamp + the topic's retention.ms"
	tierKeys["strata.tier.s3.object.lock.unlimited.ms"] = "with object.lock.mode: how long objects of topics with retention.ms=-1 are locked; 0 (default): not locked"
}

// splitTierProps removes the strata.tier.* keys from props and returns them separately.
func splitTierProps(props map[string]string) (broker, tier map[string]string) {
	broker, tier = map[string]string{}, map[string]string{}
	for k, v := range props {
		if strings.HasPrefix(k, tierPrefix) {
			tier[k] = v
		} else {
			broker[k] = v
		}
	}
	return broker, tier
}

// parseTierConfig validates the strata.tier.* keys. dataDir is the broker's log.dirs, used for
// the default fs directory.
func parseTierConfig(tier map[string]string, dataDir string) (tierConfig, error) {
	var unknown []string
	for k := range tier {
		if _, ok := tierKeys[k]; !ok {
			unknown = append(unknown, k)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return tierConfig{}, fmt.Errorf("unknown config keys: %s", strings.Join(unknown, ", "))
	}
	tc := tierConfig{
		Store:  strings.ToLower(strings.TrimSpace(tier["strata.tier.store"])),
		Prefix: tier["strata.tier.prefix"],
		FSDir:  tier["strata.tier.fs.dir"],

		EncryptionKeyFile: tier["strata.tier.encryption.key.file"],
		S3: s3Config{
			Bucket:       tier["strata.tier.s3.bucket"],
			Endpoint:     tier["strata.tier.s3.endpoint"],
			Region:       tier["strata.tier.s3.region"],
			AccessKey:    tier["strata.tier.s3.access.key"],
			SecretKey:    tier["strata.tier.s3.secret.key"],
			SSE:          tier["strata.tier.s3.sse"],
			SSEKMSKeyID:  tier["strata.tier.s3.sse.kms.key.id"],
			StorageClass: tier["strata.tier.s3.storage.class"],
		},
	}
	if tc.Store == "" {
		tc.Store = "fs"
	}
	if v, ok := tier["strata.tier.s3.create.bucket"]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return tierConfig{}, fmt.Errorf("strata.tier.s3.create.bucket: want true or false, got %q", v)
		}
		tc.CreateBucket = b
	}
	switch m := strings.ToUpper(tier["strata.tier.s3.object.lock.mode"]); m {
	case "", "GOVERNANCE", "COMPLIANCE":
		tc.S3.ObjectLockMode = m
	default:
		return tierConfig{}, fmt.Errorf("strata.tier.s3.object.lock.mode: want GOVERNANCE or COMPLIANCE, got %q", m)
	}
	if v := tier["strata.tier.s3.object.lock.unlimited.ms"]; v != "" {
		ms, err := strconv.ParseInt(v, 10, 64)
		if err != nil || ms < 0 {
			return tierConfig{}, fmt.Errorf("strata.tier.s3.object.lock.unlimited.ms: want milliseconds >= 0, got %q", v)
		}
		tc.S3.ObjectLockUnlimited = time.Duration(ms) * time.Millisecond
	}
	if v, ok := tier["strata.tier.s3.path.style"]; ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return tierConfig{}, fmt.Errorf("strata.tier.s3.path.style: want true or false, got %q", v)
		}
		tc.S3.PathStyle = b
	}
	switch tc.Store {
	case "none":
	case "fs":
		if tc.FSDir == "" {
			if dataDir == "" {
				dataDir = "data"
			}
			tc.FSDir = filepath.Join(dataDir, "tier")
		}
	case "s3":
		if tc.S3.Bucket == "" {
			return tierConfig{}, fmt.Errorf("strata.tier.store=s3 needs strata.tier.s3.bucket")
		}
		if tc.S3.Region == "" {
			tc.S3.Region = "us-east-1"
		}
		if (tc.S3.AccessKey == "") != (tc.S3.SecretKey == "") {
			return tierConfig{}, fmt.Errorf("strata.tier.s3.access.key and strata.tier.s3.secret.key go together")
		}
		switch tc.S3.SSE {
		case "", "AES256", "aws:kms":
		default:
			return tierConfig{}, fmt.Errorf("strata.tier.s3.sse: want AES256 or aws:kms, got %q", tc.S3.SSE)
		}
		if tc.S3.SSEKMSKeyID != "" && tc.S3.SSE != "aws:kms" {
			return tierConfig{}, fmt.Errorf("strata.tier.s3.sse.kms.key.id needs strata.tier.s3.sse=aws:kms")
		}
	default:
		return tierConfig{}, fmt.Errorf("strata.tier.store: want fs, s3 or none, got %q", tc.Store)
	}
	return tc, nil
}

// storeID names where tc's objects live, for the data dir's record of its remote store
// (broker.Config.RemoteStoreID): "none", "fs:<dir>" (relative to the data dir when the fs
// directory is inside it, so that moving the data dir moves its store along), or
// "s3://<bucket> at <endpoint>" (AWS when no endpoint is set). The prefix is kept apart.
func (tc tierConfig) storeID(dataDir string) string {
	switch tc.Store {
	case "fs":
		dir, derr := filepath.Abs(tc.FSDir)
		data, aerr := filepath.Abs(dataDir)
		if derr == nil && aerr == nil {
			if rel, err := filepath.Rel(data, dir); err == nil && rel != ".." && !strings.HasPrefix(rel, "../") {
				return "fs:<log.dirs>/" + filepath.ToSlash(rel)
			}
			return "fs:" + dir
		}
		return "fs:" + tc.FSDir
	case "s3":
		ep := strings.TrimSuffix(tc.S3.Endpoint, "/")
		if ep == "" {
			ep = "AWS S3"
		}
		return fmt.Sprintf("s3://%s at %s", tc.S3.Bucket, ep)
	}
	return "none"
}
