package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/strata-io/strata/tiering"
	"github.com/strata-io/strata/tiering/storewrap"
)

// Client-side encryption of the tier (storewrap.Encrypt): one key, the key file.
func init() {
	tierKeys["strata.tier.encryption.key.file"] = "key file (one \"<id> <base64 32 bytes>\" per line, the last one wraps new data keys; mode 0600): " +
		"every object put in the bucket is encrypted (AES-256-GCM, per-partition data keys wrapped by these keys); empty: plaintext, and encrypted objects are refused"
}

// buildObjectStore opens the object store chosen by tc (buildBaseStore) and adds client-side
// encryption when tc names a key file; without one, reads refuse encrypted objects with an
// error that says a key file is needed. It returns a nil store for "none".
func buildObjectStore(ctx context.Context, tc tierConfig, logger *slog.Logger, reg prometheus.Registerer) (tiering.ObjectStore, func(), error) {
	st, closeStore, err := buildBaseStore(ctx, tc, logger, reg)
	if err != nil || st == nil {
		return st, closeStore, err
	}
	if tc.EncryptionKeyFile == "" {
		return storewrap.RefuseEncrypted(st), closeStore, nil
	}
	kr, err := storewrap.LoadKeyFile(tc.EncryptionKeyFile)
	if err != nil {
		closeStore()
		return nil, func() {}, err
	}
	logger.Info("tier encryption", "key.file", tc.EncryptionKeyFile, "primary.key", kr.Primary())
	return storewrap.Encrypt(st, kr), closeStore, nil
}

// runTierKeygen appends a fresh random key to a key file (created with mode 0600), making it
// the primary: new data keys are wrapped by it after the broker restarts; objects written
// before keep naming the key that wrapped theirs, so keep the older lines.
func runTierKeygen(_ context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier keygen", "tier keygen --key-file FILE [--id ID]")
	file := fs.String("key-file", "", "key file to create or extend")
	id := fs.String("id", "", "id of the new key (default: k<UTC time>)")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 || *file == "" {
		return usageErrorf("tier keygen: --key-file FILE and no arguments")
	}
	if *id == "" {
		*id = "k" + time.Now().UTC().Format("20060102T150405Z")
	}
	old, err := os.ReadFile(*file)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("cannot read key file %q: %w", *file, err)
	}
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		return err
	}
	line := fmt.Sprintf("%s %s\n", *id, base64.StdEncoding.EncodeToString(key))
	if len(old) > 0 && old[len(old)-1] != '\n' {
		line = "\n" + line
	}
	next := append(old, line...)
	if _, err := storewrap.ParseKeys(next); err != nil {
		return fmt.Errorf("cannot add key %q to %q: %w", *id, *file, err)
	}
	tmp := *file + ".tmp"
	if err := os.WriteFile(tmp, next, 0o600); err != nil {
		return fmt.Errorf("cannot write key file %q: %w", *file, err)
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	if err := os.Rename(tmp, *file); err != nil {
		return fmt.Errorf("cannot write key file %q: %w", *file, err)
	}
	fmt.Fprintf(s.out, "added key %s to %s (now the primary; keep the older keys while objects they wrapped exist)\n", *id, *file)
	return nil
}

// runTierRewrap re-wraps the data key of every object under the prefix whose header names
// another KEK than the key file's primary, so that older KEKs can leave the key file. The
// blocks are not re-encrypted (the object is rewritten with a new header). Run it with the
// brokers stopped: it rewrites manifests too.
func runTierRewrap(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier rewrap", "tier rewrap --key-file FILE --fs-dir DIR | --bucket B [--endpoint URL] [--dry-run]")
	var sf storeFlags
	sf.registerOn(fs)
	dryRun := fs.Bool("dry-run", false, "only count the objects that would be rewritten")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageErrorf("tier rewrap: no arguments")
	}
	_, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	if tc.EncryptionKeyFile == "" {
		return usageErrorf("tier rewrap: no key file (--key-file)")
	}
	kr, err := storewrap.LoadKeyFile(tc.EncryptionKeyFile)
	if err != nil {
		return err
	}
	raw, closeStore, err := buildBaseStore(ctx, tc, slog.New(slog.DiscardHandler), nil)
	if err != nil {
		return bucketError(tc, err)
	}
	defer closeStore()
	prefix := strings.Trim(tc.Prefix, "/")
	if prefix != "" {
		prefix += "/"
	}
	var keys []string
	if err := raw.List(ctx, prefix, func(oi tiering.ObjectInfo) error { keys = append(keys, oi.Key); return nil }); err != nil {
		return bucketError(tc, err)
	}
	var changed, same int
	for _, key := range keys {
		if *dryRun {
			rc, err := raw.GetRange(ctx, key, 0, storewrap.EncHeaderBytes)
			if err != nil {
				return bucketError(tc, err)
			}
			h, err := io.ReadAll(rc)
			rc.Close()
			if err != nil {
				return bucketError(tc, err)
			}
			if len(h) == storewrap.EncHeaderBytes && string(h[:8]) == "STRATAE1" && string(h[37:37+int(min(h[36], 32))]) != kr.Primary() {
				changed++
			} else {
				same++
			}
			continue
		}
		ok, err := storewrap.Rewrap(ctx, raw, kr, key)
		if err != nil {
			return bucketError(tc, err)
		}
		if ok {
			changed++
		} else {
			same++
		}
	}
	verb := "rewrapped"
	if *dryRun {
		verb = "would rewrap"
	}
	fmt.Fprintf(s.out, "%s %d %s under key %s; %d already under it\n", verb, changed, plural(changed, "object", "objects"), kr.Primary(), same)
	return nil
}
