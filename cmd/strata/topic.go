package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func runTopic(ctx context.Context, s streams, args []string) error {
	sub := map[string]func(context.Context, streams, []string) error{
		"create":       runTopicCreate,
		"list":         runTopicList,
		"describe":     runTopicDescribe,
		"delete":       runTopicDelete,
		"alter-config": runTopicAlterConfig,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(s.err, "usage: strata topic create|list|describe|delete|alter-config [flags]")
		if len(args) == 0 {
			return errUsage
		}
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return usageErrorf("unknown topic command %q", args[0])
	}
	return sub[args[0]](ctx, s, args[1:])
}

func runTopicCreate(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "topic create", "topic create NAME... [--partitions N] [--config k=v]...")
	var cf clientFlags
	cf.register(fs)
	partitions := fs.Int("partitions", 1, "number of partitions (-1: broker default num.partitions)")
	rf := fs.Int("replication-factor", 1, "replication factor (-1: broker default)")
	ifNotExists := fs.Bool("if-not-exists", false, "succeed if the topic already exists")
	var configs kvFlag
	fs.Var(&configs, "config", "topic config key=value (repeatable)")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErrorf("topic create: missing topic name")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	cfgs := map[string]*string{}
	for _, k := range configs.keys {
		v := configs.vals[k]
		cfgs[k] = &v
	}
	resps, err := adm.CreateTopics(ctx, int32(*partitions), int16(*rf), cfgs, names...)
	if err != nil {
		return fmt.Errorf("cannot create topics: %w", err)
	}
	var errs []error // each printed once, by main, one line per topic
	for _, r := range resps.Sorted() {
		switch {
		case r.Err == nil:
			fmt.Fprintf(s.out, "created topic %q with %d %s\n", r.Topic, r.NumPartitions, plural(int(r.NumPartitions), "partition", "partitions"))
		case *ifNotExists && isTopicExists(r.Err):
			fmt.Fprintf(s.out, "topic %q already exists\n", r.Topic)
		default:
			errs = append(errs, fmt.Errorf("cannot create topic %q: %s", r.Topic, errText(r.Err, r.ErrMessage)))
		}
	}
	return errors.Join(errs...)
}

func isTopicExists(err error) bool {
	return err != nil && strings.Contains(err.Error(), "TOPIC_ALREADY_EXISTS")
}

// errText words a Kafka error code of a response in the user's terms: the broker's own
// message when it sent one (Strata's say what was wrong and what is allowed), else a short
// description of the code.
func errText(err error, msg string) string {
	var ke *kerr.Error
	if err != nil && !errors.As(err, &ke) {
		return err.Error()
	}
	if ke != nil { // Strata's messages start with the code's own text: drop it
		msg = strings.TrimPrefix(msg, ke.Error()+": ")
	}
	if msg != "" {
		return msg
	}
	if ke == nil {
		return "failed"
	}
	switch ke {
	case kerr.UnknownTopicOrPartition:
		return "no such topic"
	case kerr.TopicAlreadyExists:
		return "the topic already exists"
	case kerr.InvalidPartitions:
		return "invalid number of partitions"
	case kerr.InvalidTopicException:
		return "invalid topic name"
	case kerr.InvalidConfig:
		return "invalid config"
	case kerr.TopicAuthorizationFailed, kerr.ClusterAuthorizationFailed:
		return "not authorized"
	}
	return strings.TrimSuffix(ke.Description, ".") + " (" + ke.Message + ")"
}

func runTopicList(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "topic list", "topic list [--internal] [--partitions]")
	var cf clientFlags
	cf.register(fs)
	internal := fs.Bool("internal", false, "include internal topics")
	withParts := fs.Bool("partitions", false, "print the partition count after each name")
	if _, err := parseFlags(fs, args); err != nil {
		return err
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	var details kadm.TopicDetails
	if *internal {
		details, err = adm.ListTopicsWithInternal(ctx)
	} else {
		details, err = adm.ListTopics(ctx)
	}
	if err != nil {
		return fmt.Errorf("cannot list topics: %w", err)
	}
	for _, d := range details.Sorted() {
		if *withParts {
			fmt.Fprintf(s.out, "%s\t%d\n", d.Topic, len(d.Partitions))
		} else {
			fmt.Fprintln(s.out, d.Topic)
		}
	}
	return nil
}

func runTopicDescribe(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "topic describe", "topic describe NAME... [--all-configs]")
	var cf clientFlags
	cf.register(fs)
	allConfigs := fs.Bool("all-configs", false, "print every config, not only those set on the topic")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErrorf("topic describe: missing topic name")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()

	details, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot describe topics: %w", err)
	}
	for _, n := range names {
		d, ok := details[n]
		if !ok {
			return fmt.Errorf("topic %q: %s", n, "UNKNOWN_TOPIC_OR_PARTITION")
		}
		if d.Err != nil {
			return fmt.Errorf("topic %q: %w", n, d.Err)
		}
	}
	starts, err := adm.ListStartOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot list start offsets: %w", err)
	}
	ends, err := adm.ListEndOffsets(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot list end offsets: %w", err)
	}
	rcs, err := adm.DescribeTopicConfigs(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot describe topic configs: %w", err)
	}
	for i, n := range names {
		if i > 0 {
			fmt.Fprintln(s.out)
		}
		d := details[n]
		fmt.Fprintf(s.out, "Topic: %s\tTopicId: %s\tPartitionCount: %d\tReplicationFactor: %d\n",
			d.Topic, base64.RawURLEncoding.EncodeToString(d.ID[:]), len(d.Partitions), d.Partitions.NumReplicas())
		for _, p := range d.Partitions.Sorted() {
			start, end := "?", "?"
			if o, ok := starts.Lookup(n, p.Partition); ok && o.Err == nil {
				start = fmt.Sprint(o.Offset)
			}
			if o, ok := ends.Lookup(n, p.Partition); ok && o.Err == nil {
				end = fmt.Sprint(o.Offset)
			}
			line := fmt.Sprintf("\tPartition: %d\tLeader: %d\tReplicas: %s\tIsr: %s\tLogStartOffset: %s\tHighWatermark: %s",
				p.Partition, p.Leader, joinInt32(p.Replicas), joinInt32(p.ISR), start, end)
			if p.Err != nil {
				line += "\tError: " + p.Err.Error()
			}
			fmt.Fprintln(s.out, line)
		}
		rc, err := rcs.On(n, nil)
		if err != nil || rc.Err != nil {
			fmt.Fprintf(s.out, "\tConfigs: unavailable (%v)\n", firstNonNil(err, rc.Err))
			continue
		}
		var cfgs []kadm.Config
		for _, c := range rc.Configs {
			if *allConfigs || c.Source == kmsg.ConfigSourceDynamicTopicConfig {
				cfgs = append(cfgs, c)
			}
		}
		sort.Slice(cfgs, func(i, j int) bool { return cfgs[i].Key < cfgs[j].Key })
		if len(cfgs) == 0 { // no overrides: say so rather than print an empty section
			fmt.Fprintln(s.out, "\tConfigs: none set on the topic (broker defaults; --all-configs lists them)")
			continue
		}
		fmt.Fprintln(s.out, "\tConfigs:")
		for _, c := range cfgs {
			v := c.MaybeValue()
			if c.Sensitive {
				v = "[sensitive]"
			}
			if *allConfigs {
				fmt.Fprintf(s.out, "\t\t%s=%s\t(%s)\n", c.Key, v, configSourceName(c.Source))
			} else {
				fmt.Fprintf(s.out, "\t\t%s=%s\n", c.Key, v)
			}
		}
	}
	return nil
}

func configSourceName(src kmsg.ConfigSource) string {
	switch src {
	case kmsg.ConfigSourceDynamicTopicConfig:
		return "topic"
	case kmsg.ConfigSourceDynamicBrokerConfig:
		return "dynamic broker"
	case kmsg.ConfigSourceDynamicDefaultBrokerConfig:
		return "dynamic default broker"
	case kmsg.ConfigSourceStaticBrokerConfig:
		return "static broker"
	case kmsg.ConfigSourceDefaultConfig:
		return "default"
	default:
		return strings.ToLower(src.String())
	}
}

func firstNonNil(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func joinInt32(xs []int32) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = fmt.Sprint(x)
	}
	return strings.Join(parts, ",")
}

func runTopicDelete(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "topic delete", "topic delete NAME...")
	var cf clientFlags
	cf.register(fs)
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErrorf("topic delete: missing topic name")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	resps, err := adm.DeleteTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot delete topics: %w", err)
	}
	var errs []error
	for _, r := range resps.Sorted() {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("cannot delete topic %q: %s", r.Topic, errText(r.Err, r.ErrMessage)))
			continue
		}
		fmt.Fprintf(s.out, "deleted topic %q\n", r.Topic)
	}
	return errors.Join(errs...)
}

func runTopicAlterConfig(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "topic alter-config", "topic alter-config NAME... [--set k=v]... [--delete k]...")
	var cf clientFlags
	cf.register(fs)
	var sets kvFlag
	var dels listFlag
	fs.Var(&sets, "set", "set a topic config key=value (repeatable)")
	fs.Var(&dels, "delete", "remove a topic config override, back to the broker default (repeatable)")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErrorf("topic alter-config: missing topic name")
	}
	if len(sets.keys) == 0 && len(dels) == 0 {
		return usageErrorf("topic alter-config: nothing to do; use --set k=v or --delete k")
	}
	var alters []kadm.AlterConfig
	for _, k := range sets.keys {
		v := sets.vals[k]
		alters = append(alters, kadm.AlterConfig{Op: kadm.SetConfig, Name: k, Value: &v})
	}
	for _, k := range dels {
		alters = append(alters, kadm.AlterConfig{Op: kadm.DeleteConfig, Name: k})
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	resps, err := adm.AlterTopicConfigs(ctx, alters, names...)
	if err != nil {
		return fmt.Errorf("cannot alter topic configs: %w", err)
	}
	var errs []error
	for _, r := range resps {
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("cannot alter configs of topic %q: %s", r.Name, errText(r.Err, r.ErrMessage)))
			continue
		}
		fmt.Fprintf(s.out, "altered configs of topic %q\n", r.Name)
	}
	return errors.Join(errs...)
}
