package main

// strata tier verify --deep, tier heads, tier proof, tier verify-proof: the tamper
// evidence of the bucket (tiering/chain.go), checked without a broker.
//
//	strata tier heads [TOPIC]                 print every partition's chain head (publish these)
//	strata tier verify --deep [--heads FILE]  also check every hash chain, and that the chains
//	                                          still reach the heads in FILE (published earlier)
//	strata tier proof TOPIC PARTITION OFFSET  print a proof that OFFSET is in the chain
//	strata tier verify-proof --head SEQ:HASH [FILE]  check a proof against a published head

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/strata-io/strata/tiering"
)

// deepVerify is what verify --deep checks beyond the objects.
type deepVerify struct {
	heads map[string]tiering.ChainHead // "topic/partition" -> published head
}

// readHeadsFile parses the output of `strata tier heads`: "TOPIC PARTITION SEQ:HASH" per
// line; blank lines and lines starting with # are skipped.
func readHeadsFile(name string) (map[string]tiering.ChainHead, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	heads := map[string]tiering.ChainHead{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fs := strings.Fields(line)
		if len(fs) != 3 {
			return nil, fmt.Errorf("%s:%d: want TOPIC PARTITION SEQ:HASH", name, n)
		}
		p, err := strconv.ParseInt(fs[1], 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: bad partition %q", name, n, fs[1])
		}
		h, err := tiering.ParseChainHead(fs[2])
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, n, err)
		}
		heads[fs[0]+"/"+strconv.FormatInt(p, 10)] = h
	}
	return heads, sc.Err()
}

// verifyChainDeep checks the hash chain of one partition: every link, the head, and the
// published head for it when there is one; and looks for segment objects past the
// manifest's end that it does not name (a manifest put back from the past leaves them).
// It prints one line per problem and counts them in rep.broken.
func verifyChainDeep(ctx context.Context, out io.Writer, st tiering.ObjectStore, tc tierConfig, tm tiering.TopicManifest, p int32,
	now time.Time, grace time.Duration, d *deepVerify, rep *verifyReport) error {
	name := fmt.Sprintf("%s-%d", tm.Topic, p)
	head, all, breaks, err := tiering.ReadPartitionChain(ctx, st, tc.Prefix, tm.Topic, tm.TopicID, p)
	if err != nil {
		return nil // verifyPartition reported the manifest already
	}
	if len(breaks) > 0 {
		b := breaks[0]
		rep.broken++
		fmt.Fprintf(out, "BROKEN   %s: hash chain: link %d (offsets %d-%d): %s", name, b.Seq, b.From, b.To, b.Reason)
		if len(breaks) > 1 {
			fmt.Fprintf(out, " (and %d more)", len(breaks)-1)
		}
		fmt.Fprintln(out)
	}
	legacy := 0
	for i := range all {
		if all[i].ChainSeq == 0 {
			legacy++
		}
	}
	if legacy > 0 {
		fmt.Fprintf(out, "LEGACY   %s: %d %s uploaded before the hash chain (checked by CRC-32C only)\n", name, legacy, plural(legacy, "segment", "segments"))
	}
	if want, ok := d.heads[tm.Topic+"/"+strconv.Itoa(int(p))]; ok {
		if msg := headReached(head, all, want); msg != "" {
			rep.broken++
			fmt.Fprintf(out, "BROKEN   %s: published head %s: %s\n", name, want, msg)
		}
	}
	// Segment objects past the end, old enough not to be an upload in flight.
	prefix := tiering.PartitionPrefix(tc.Prefix, tm.Topic, tm.TopicID, p)
	var beyond []string
	err = st.List(ctx, prefix, func(oi tiering.ObjectInfo) error {
		base, ok := objectBase(oi.Key)
		if ok && strings.HasSuffix(oi.Key, ".log") && base >= head.EndOffset && now.Sub(oi.LastModified) >= grace {
			beyond = append(beyond, oi.Key)
		}
		return nil
	})
	if err != nil {
		return bucketError(tc, err)
	}
	if len(beyond) > 0 {
		rep.broken++
		fmt.Fprintf(out, "BROKEN   %s: %d segment %s at or past the manifest's end offset %d that it does not name (a manifest from the past?), first %s\n",
			name, len(beyond), plural(len(beyond), "object", "objects"), head.EndOffset, beyond[0])
	}
	return nil
}

// headReached says how the chain (head, entries) fails to reach a published head, "" if
// it does: the published link must still be in the chain with the same hash, or be older
// than everything the manifest still holds (retention) with a newer chain head.
func headReached(head tiering.PartitionHead, all []tiering.SegmentEntry, want tiering.ChainHead) string {
	if head.Chain == nil {
		return "the manifest has no chain"
	}
	if head.Chain.Seq < want.Seq {
		return fmt.Sprintf("the chain ends at link %d: the manifest was rolled back", head.Chain.Seq)
	}
	links := tiering.ChainLinks(head.TopicID, head.Partition, all, head.Deletions)
	for _, l := range links {
		if l.Seq == want.Seq {
			if l.Hash != want.Hash {
				return fmt.Sprintf("link %d is now %s: the history was rewritten", want.Seq, l.Hash)
			}
			return ""
		}
	}
	if len(links) > 0 && want.Seq < links[0].Seq {
		return "" // dropped since by retention; the deletion links record it
	}
	return fmt.Sprintf("link %d is not in the manifest", want.Seq)
}

// objectBase parses the base offset of a segment object key (<%020d base>-<uuid>.ext).
func objectBase(key string) (int64, bool) {
	name := path.Base(key)
	if len(name) < 21 || name[20] != '-' {
		return 0, false
	}
	b, err := strconv.ParseInt(name[:20], 10, 64)
	return b, err == nil
}

func runTierHeads(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier heads", "tier heads [TOPIC] --fs-dir DIR | --bucket B [--endpoint URL]")
	var sf storeFlags
	sf.registerOn(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageErrorf("tier heads: at most one TOPIC")
	}
	st, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	topics, err := verifyTopics(ctx, st, tc, pos)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "# strata tier heads, %s: TOPIC PARTITION SEQ:HASH (check later with strata tier verify --deep --heads FILE)\n", time.Now().UTC().Format(time.RFC3339))
	for _, tm := range topics {
		for p := int32(0); p < tm.Partitions; p++ {
			head, _, _, err := tiering.ReadPartitionChain(ctx, st, tc.Prefix, tm.Topic, tm.TopicID, p)
			if err != nil {
				return bucketError(tc, fmt.Errorf("cannot read the manifest of %s-%d: %w", tm.Topic, p, err))
			}
			if head.Chain == nil {
				fmt.Fprintf(s.out, "# %s %d has no chain yet\n", tm.Topic, p)
				continue
			}
			fmt.Fprintf(s.out, "%s %d %s\n", tm.Topic, p, head.Chain)
		}
	}
	return nil
}

// verifyTopics returns the topic named in pos, or every topic.
func verifyTopics(ctx context.Context, st tiering.ObjectStore, tc tierConfig, pos []string) ([]tiering.TopicManifest, error) {
	if len(pos) == 1 {
		tm, err := findTopic(ctx, st, tc, pos[0])
		if err != nil {
			return nil, err
		}
		return []tiering.TopicManifest{tm}, nil
	}
	tms, err := tiering.Restore(ctx, st, tc.Prefix)
	return tms, bucketError(tc, err)
}

func runTierProof(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier proof", "tier proof TOPIC PARTITION OFFSET --fs-dir DIR | --bucket B [--endpoint URL]")
	var sf storeFlags
	sf.registerOn(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 3 {
		return usageErrorf("tier proof: want TOPIC PARTITION OFFSET")
	}
	part, err := strconv.ParseInt(pos[1], 10, 32)
	if err != nil || part < 0 {
		return usageErrorf("tier proof: bad partition %q", pos[1])
	}
	off, err := strconv.ParseInt(pos[2], 10, 64)
	if err != nil || off < 0 {
		return usageErrorf("tier proof: bad offset %q", pos[2])
	}
	st, tc, err := sf.open(ctx)
	if err != nil {
		return err
	}
	tm, err := findTopic(ctx, st, tc, pos[0])
	if err != nil {
		return err
	}
	if int32(part) >= tm.Partitions {
		return fmt.Errorf("topic %q has %d partitions, no partition %d", tm.Topic, tm.Partitions, part)
	}
	head, all, _, err := tiering.ReadPartitionChain(ctx, st, tc.Prefix, tm.Topic, tm.TopicID, int32(part))
	if err != nil {
		return bucketError(tc, fmt.Errorf("cannot read the manifest of %s-%d: %w", tm.Topic, part, err))
	}
	proof, err := tiering.BuildProof(head, all, off)
	if err != nil {
		return fmt.Errorf("no proof for %s-%d offset %d: %w", tm.Topic, part, off, err)
	}
	b, err := json.MarshalIndent(proof, "", " ")
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(s.out, "%s\n", b)
	return err
}

func runTierVerifyProof(_ context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "tier verify-proof", "tier verify-proof --head SEQ:HASH [PROOF-FILE|-]")
	headFlag := fs.String("head", "", "the published chain head (SEQ:HASH, as strata tier heads prints it); required")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) > 1 || *headFlag == "" {
		return usageErrorf("tier verify-proof: want --head SEQ:HASH and at most one PROOF-FILE (default stdin)")
	}
	want, err := tiering.ParseChainHead(*headFlag)
	if err != nil {
		return usageErrorf("--head: %v", err)
	}
	var r io.Reader = s.in
	if len(pos) == 1 && pos[0] != "-" {
		f, err := os.Open(pos[0])
		if err != nil {
			return err
		}
		defer f.Close()
		r = f
	}
	var proof tiering.Proof
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&proof); err != nil {
		return fmt.Errorf("cannot read the proof: %w", err)
	}
	if proof.Version != 1 {
		return fmt.Errorf("proof version %d: this strata reads version 1", proof.Version)
	}
	if err := tiering.VerifyProof(&proof, want); err != nil {
		return fmt.Errorf("proof does not verify: %w", err)
	}
	e := proof.Entry
	fmt.Fprintf(s.out, "proof OK: offset %d of %s-%d is in segment %d-%d (.log sha256 %s), link %d of chain head %s\n",
		proof.Offset, proof.Topic, proof.Partition, e.BaseOffset, e.LastOffset, e.Log.SHA256, e.ChainSeq, want)
	return nil
}

var errDeepFailed = errors.New("verify --deep found broken hash chains")
