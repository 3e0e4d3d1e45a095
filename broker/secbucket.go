package broker

// Users and ACLs in the bucket's self-description.
//
// When the broker has a remote tier, every change to <data-dir>/meta/acls.json or
// <data-dir>/meta/scram-credentials.json is also written to
// <remote.log.prefix>/_security/<same name> (the same bytes), and a broker that starts
// without the local file (a restore onto an empty data dir) reads it back from there, so
// a restore keeps who may log in and what they may do. The SCRAM file holds salts and
// the derived StoredKey/ServerKey, never a password; the bucket must still be guarded
// like the data it holds. A failed upload is logged and repeated with the next change.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/strata-io/strata/segment"
	"github.com/strata-io/strata/tiering"
)

const securityBucketDir = "_security/"

func (b *Broker) securityKey(name string) string {
	p := strings.TrimSuffix(b.cfg.RemotePrefix, "/")
	if p == "" {
		return securityBucketDir + name
	}
	return p + "/" + securityBucketDir + name
}

// mirrorSecurityFile uploads the meta dir's current copy of a security file; failures
// are logged.
func (b *Broker) mirrorSecurityFile(name string) {
	if b.tier == nil {
		return
	}
	data, err := os.ReadFile(filepath.Join(b.metaDir(), name))
	if err != nil {
		b.logger.Warn("cannot read security file for the bucket", "file", name, "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	if err := b.cfg.RemoteStore.Put(ctx, b.securityKey(name), bytes.NewReader(data), int64(len(data))); err != nil {
		b.logger.Warn("cannot copy security file to the bucket", "file", name, "err", err)
	}
}

// restoreSecurityFile fetches name from the bucket into the meta dir when the local file
// is missing. It reports whether a file was restored.
func (b *Broker) restoreSecurityFile(name string) (bool, error) {
	path := filepath.Join(b.metaDir(), name)
	if b.tier == nil {
		return false, nil
	}
	if _, err := os.Stat(path); err == nil || !errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), tierOpTimeout)
	defer cancel()
	rc, err := b.cfg.RemoteStore.GetRange(ctx, b.securityKey(name), 0, -1)
	if errors.Is(err, tiering.ErrNotExist) {
		return false, nil
	}
	if err != nil && !b.freshDir {
		// An existing data dir whose users/ACLs file was never written (none created):
		// the bucket holds nothing this broker lacks, and an outage must not stop it.
		b.logger.Warn("cannot check the bucket for a security file; starting without it", "file", name, "err", err)
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("cannot read %q from the bucket: %w", b.securityKey(name), err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
	if err != nil {
		return false, fmt.Errorf("cannot read %q from the bucket: %w", b.securityKey(name), err)
	}
	if err := segment.WriteFileAtomic(segment.OSFS{}, path, data, 0o600); err != nil {
		return false, err
	}
	b.logger.Info("security file restored from bucket", "file", name)
	return true, nil
}
