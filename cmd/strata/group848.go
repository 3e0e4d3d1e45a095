package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/twmb/franz-go/pkg/kadm"
)

// describeConsumerGroup prints a KIP-848 consumer group (ConsumerGroupDescribe): the
// classic DescribeGroups that kadm's Lag uses answers GROUP_ID_NOT_FOUND for those. It
// reports false when name is not a consumer group either.
func describeConsumerGroup(ctx context.Context, adm *kadm.Client, name string, w io.Writer) (bool, error) {
	dcg, err := adm.DescribeConsumerGroups(ctx, name)
	if err != nil {
		return false, fmt.Errorf("cannot describe consumer group %q: %w", name, err)
	}
	d, ok := dcg[name]
	if !ok || d.Err != nil {
		return false, nil
	}
	committed, err := adm.FetchOffsets(ctx, name)
	if err != nil {
		return true, fmt.Errorf("cannot fetch the offsets of group %q: %w", name, err)
	}
	type owner struct{ member, client, host string }
	owners := map[string]map[int32]owner{}
	topicSet := map[string]bool{}
	for _, m := range d.Members {
		for t, ps := range m.Assignment {
			topicSet[t] = true
			if owners[t] == nil {
				owners[t] = map[int32]owner{}
			}
			for p := range ps {
				owners[t][p] = owner{m.MemberID, m.ClientID, m.ClientHost}
			}
		}
	}
	committed.Each(func(o kadm.OffsetResponse) { topicSet[o.Topic] = true })
	topics := make([]string, 0, len(topicSet))
	for t := range topicSet {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	var ends kadm.ListedOffsets
	if len(topics) > 0 {
		if ends, err = adm.ListEndOffsets(ctx, topics...); err != nil {
			return true, fmt.Errorf("cannot list end offsets: %w", err)
		}
	}
	type row struct {
		topic     string
		partition int32
		commit    int64
		end       int64
		lag       string
		o         owner
	}
	var rows []row
	var total int64
	ends.Each(func(e kadm.ListedOffset) {
		r := row{topic: e.Topic, partition: e.Partition, commit: -1, end: e.Offset, o: owner{"-", "-", "-"}}
		if o, ok := owners[e.Topic][e.Partition]; ok {
			r.o = o
		}
		c, hasCommit := committed.Lookup(e.Topic, e.Partition)
		if hasCommit && c.Err == nil && c.At >= 0 {
			r.commit = c.At
		}
		_, assigned := owners[e.Topic][e.Partition]
		if !hasCommit && !assigned {
			return
		}
		switch {
		case e.Err != nil:
			r.lag = "? (" + e.Err.Error() + ")"
		case r.commit >= 0:
			lag := max(0, e.Offset-r.commit)
			total += lag
			r.lag = strconv.FormatInt(lag, 10)
		default:
			total += e.Offset
			r.lag = strconv.FormatInt(e.Offset, 10)
		}
		rows = append(rows, r)
	})
	slices.SortFunc(rows, func(a, b row) int {
		if c := strings.Compare(a.topic, b.topic); c != 0 {
			return c
		}
		return int(a.partition - b.partition)
	})
	fmt.Fprintf(w, "group %s: state %s, protocol consumer (KIP-848, assignor %s, epoch %d), %d %s, total lag %d\n",
		d.Group, d.State, d.AssignorName, d.Epoch, len(d.Members), plural(len(d.Members), "member", "members"), total)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tCOMMITTED\tLOG-END\tLAG\tMEMBER\tCLIENT\tHOST")
	for _, r := range rows {
		commit := "-"
		if r.commit >= 0 {
			commit = strconv.FormatInt(r.commit, 10)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\t%s\n", r.topic, r.partition, commit, r.end, r.lag, r.o.member, r.o.client, r.o.host)
	}
	return true, tw.Flush()
}
