package main

// strata group list|describe|seek|delete: consumer groups through kadm (ListGroups,
// DescribeGroups, OffsetFetch, ListOffsets, OffsetCommit, DeleteGroups), so they work
// against Strata or any Kafka cluster.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

func runGroup(ctx context.Context, s streams, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		w := s.err
		if len(args) > 0 {
			w = s.out
		}
		fmt.Fprintln(w, "usage: strata group list|describe|seek|delete [flags]")
		fmt.Fprintln(w, "  list                 groups with state and protocol")
		fmt.Fprintln(w, "  describe GROUP       members, committed offsets, end offsets and lag per partition")
		fmt.Fprintln(w, "  seek GROUP --topic T --to earliest|latest|OFFSET|@TIMESTAMP_MS   move an inactive group's offsets")
		fmt.Fprintln(w, "  delete GROUP...      delete inactive groups and their offsets")
		if len(args) == 0 {
			return errUsage
		}
		return nil
	}
	switch args[0] {
	case "list":
		return runGroupList(ctx, s, args[1:])
	case "describe":
		return runGroupDescribe(ctx, s, args[1:])
	case "seek":
		return runGroupSeek(ctx, s, args[1:])
	case "delete":
		return runGroupDelete(ctx, s, args[1:])
	}
	return usageErrorf("group: unknown subcommand %q (want list, describe, seek or delete)", args[0])
}

// brokerError makes a connection failure one actionable line.
func brokerError(cf *clientFlags, err error) error {
	if err == nil {
		return nil
	}
	if worded := wordDialError(err); worded != err {
		return worded
	}
	msg := err.Error()
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "no such host") ||
		strings.Contains(msg, "i/o timeout") || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("cannot reach the broker at %s (check --brokers / STRATA_BROKERS): %v", cf.brokers, err)
	}
	return err
}

func runGroupList(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "group list", "group list [--brokers ...]")
	var cf clientFlags
	cf.register(fs)
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("group list: unexpected arguments %q", pos)
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		return brokerError(&cf, fmt.Errorf("cannot list groups: %w", err))
	}
	tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "GROUP\tSTATE\tPROTOCOL-TYPE")
	for _, g := range groups.Sorted() {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", g.Group, g.State, g.ProtocolType)
	}
	return tw.Flush()
}

func runGroupDescribe(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "group describe", "group describe GROUP... [--brokers ...]")
	var cf clientFlags
	cf.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("group describe: want at least one GROUP")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	lags, err := adm.Lag(ctx, pos...)
	if err != nil {
		return brokerError(&cf, fmt.Errorf("cannot describe groups: %w", err))
	}
	for i, name := range pos {
		l, ok := lags[name]
		if !ok {
			return fmt.Errorf("group %q: no answer from the coordinator", name)
		}
		if err := l.Error(); err != nil {
			if errors.Is(err, kerr.GroupIDNotFound) {
				if i > 0 {
					fmt.Fprintln(s.out)
				}
				if ok, err := describeConsumerGroup(ctx, adm, name, s.out); ok || err != nil { // KIP-848 (group848.go)
					if err != nil {
						return brokerError(&cf, err)
					}
					continue
				}
				return fmt.Errorf("group %q does not exist", name)
			}
			return fmt.Errorf("group %q: %w", name, err)
		}
		if l.State == "Dead" {
			return fmt.Errorf("group %q does not exist", name)
		}
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		fmt.Fprintf(s.out, "group %s: state %s, protocol %s, %d %s, total lag %d\n",
			l.Group, l.State, groupProtocol(l.ProtocolType, l.Protocol), len(l.Members), plural(len(l.Members), "member", "members"), l.Lag.Total())
		tw := tabwriter.NewWriter(s.out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER\tCLIENT\tHOST")
		for _, ml := range l.Lag.Sorted() {
			commit := "-"
			if ml.Commit.At >= 0 {
				commit = strconv.FormatInt(ml.Commit.At, 10)
			}
			lag := strconv.FormatInt(ml.Lag, 10)
			if ml.Err != nil {
				lag = "? (" + ml.Err.Error() + ")"
			}
			member, client, host := "-", "-", "-"
			if ml.Member != nil {
				member, client, host = ml.Member.MemberID, ml.Member.ClientID, ml.Member.ClientHost
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", ml.Topic, ml.Partition, commit, ml.End.Offset, lag, member, client, host)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func runGroupSeek(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "group seek", "group seek GROUP --topic TOPIC [--partition N] --to earliest|latest|OFFSET|@TIMESTAMP_MS [--dry-run]")
	var cf clientFlags
	cf.register(fs)
	topic := fs.String("topic", "", "topic whose offsets move (required)")
	partition := fs.Int("partition", -1, "only this partition (-1: all)")
	to := fs.String("to", "", "earliest, latest, an offset, or @ followed by a timestamp (Unix ms): the first offset at or after it")
	dryRun := fs.Bool("dry-run", false, "print the new offsets without committing them")
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 || *topic == "" || *to == "" {
		return usageErrorf("group seek: want GROUP, --topic and --to")
	}
	group := pos[0]
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	// Only an inactive group may be moved: a live member would overwrite the commit.
	dg, err := adm.DescribeGroups(ctx, group)
	if err != nil {
		return brokerError(&cf, fmt.Errorf("cannot describe group %q: %w", group, err))
	}
	if d, ok := dg[group]; ok && d.Err == nil && len(d.Members) > 0 {
		return fmt.Errorf("group %q is active (%s, %d members): stop its consumers before seeking", group, d.State, len(d.Members))
	}

	var listed kadm.ListedOffsets
	var exact int64 = -1
	switch {
	case *to == "earliest":
		listed, err = adm.ListStartOffsets(ctx, *topic)
	case *to == "latest":
		listed, err = adm.ListEndOffsets(ctx, *topic)
	case strings.HasPrefix(*to, "@"):
		ms, perr := strconv.ParseInt((*to)[1:], 10, 64)
		if perr != nil {
			return usageErrorf("group seek: --to @TIMESTAMP wants Unix milliseconds, got %q", *to)
		}
		listed, err = adm.ListOffsetsAfterMilli(ctx, ms, *topic)
	default:
		exact, err = strconv.ParseInt(*to, 10, 64)
		if err != nil || exact < 0 {
			return usageErrorf("group seek: --to wants earliest, latest, an offset or @TIMESTAMP_MS, got %q", *to)
		}
		listed, err = adm.ListEndOffsets(ctx, *topic) // for the partition list
	}
	if err == nil {
		err = listed.Error()
	}
	if err != nil {
		if errors.Is(err, kerr.UnknownTopicOrPartition) {
			return fmt.Errorf("topic %q does not exist", *topic)
		}
		return brokerError(&cf, fmt.Errorf("cannot list offsets of %q: %w", *topic, err))
	}
	if _, ok := listed[*topic]; !ok {
		return fmt.Errorf("topic %q does not exist", *topic)
	}
	os := kadm.Offsets{}
	for p, lo := range listed[*topic] {
		if *partition >= 0 && p != int32(*partition) {
			continue
		}
		at := lo.Offset
		if exact >= 0 {
			at = exact
		}
		os.Add(kadm.Offset{Topic: *topic, Partition: p, At: at, LeaderEpoch: -1})
	}
	if len(os) == 0 || len(os[*topic]) == 0 {
		return fmt.Errorf("topic %q has no partition %d", *topic, *partition)
	}
	var parts []int32
	for p := range os[*topic] {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	if !*dryRun {
		resps, err := adm.CommitOffsets(ctx, group, os)
		if err == nil {
			err = resps.Error()
		}
		if err != nil {
			return brokerError(&cf, fmt.Errorf("cannot commit offsets of group %q: %w", group, err))
		}
	}
	verb := "moved"
	if *dryRun {
		verb = "would move"
	}
	for _, p := range parts {
		fmt.Fprintf(s.out, "%s %s %s-%d to %d\n", verb, group, *topic, p, os[*topic][p].At)
	}
	return nil
}

func runGroupDelete(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "group delete", "group delete GROUP... [--brokers ...]")
	var cf clientFlags
	cf.register(fs)
	pos, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageErrorf("group delete: want at least one GROUP")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	resps, err := adm.DeleteGroups(ctx, pos...)
	if err != nil {
		return brokerError(&cf, fmt.Errorf("cannot delete groups: %w", err))
	}
	var errs []error
	for _, g := range pos {
		r, ok := resps[g]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("group %q: no answer", g))
		case errors.Is(r.Err, kerr.GroupIDNotFound):
			errs = append(errs, fmt.Errorf("group %q does not exist", g))
		case errors.Is(r.Err, kerr.NonEmptyGroup):
			errs = append(errs, fmt.Errorf("group %q is active: stop its consumers before deleting it", g))
		case r.Err != nil:
			errs = append(errs, fmt.Errorf("group %q: %w", g, r.Err))
		default:
			fmt.Fprintf(s.out, "deleted group %s\n", g)
		}
	}
	return errors.Join(errs...)
}

// groupProtocol is "consumer/range", or only the type while no member chose an assignor
// (an empty group), or "none".
func groupProtocol(typ, proto string) string {
	switch {
	case typ == "" && proto == "":
		return "none"
	case proto == "":
		return typ
	}
	return typ + "/" + proto
}
