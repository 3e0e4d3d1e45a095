package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/strata-io/strata/cluster"
)

func runQuorum(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "quorum", "quorum --controllers host:port,... [--under-replicated]")
	controllers := fs.String("controllers", "", "controller listener addresses (controller.quorum.voters' host:port), comma separated")
	urp := fs.Bool("under-replicated", false, "list only partitions that are offline or whose ISR is smaller than their replicas")
	timeout := fs.Duration("timeout", 10*time.Second, "give up after this long")
	if pos, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(pos) > 0 {
		return usageErrorf("quorum: unexpected arguments %q", pos)
	}
	addrs := splitComma(*controllers)
	if len(addrs) == 0 {
		return usageErrorf("quorum: --controllers is required")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cl := cluster.NewClient(addrs)
	id, addr, err := cl.Leader(ctx)
	if err != nil {
		return fmt.Errorf("cannot ask the metadata quorum at %s for its leader: %w", *controllers, err)
	}
	// The leader's image has every acknowledged change; a follower's may lag.
	from := cl
	if addr != "" {
		from = cluster.NewClient(append([]string{addr}, addrs...))
	}
	im, err := from.Watch(ctx, 0)
	if err != nil {
		return fmt.Errorf("cannot read the metadata quorum at %s: %w", *controllers, err)
	}
	return writeQuorum(s.out, im, id, addr, *urp)
}

func splitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// writeQuorum prints the controller, the brokers and the partitions of an image.
func writeQuorum(w io.Writer, im *cluster.Image, leaderID int32, leaderAddr string, underReplicatedOnly bool) error {
	ctl := "none (election under way)"
	if leaderID >= 0 {
		ctl = fmt.Sprintf("%d (%s)", leaderID, leaderAddr)
	}
	fmt.Fprintf(w, "cluster id: %s\nmetadata version: %d\ncontroller: %s\n\n", im.ClusterID, im.Version, ctl)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "BROKER\tSTATE\tEPOCH\tRACK\tLISTENERS")
	for _, id := range im.BrokerIDs() {
		b := im.Brokers[id]
		state := "unfenced"
		if b.Fenced {
			state = "fenced"
		}
		var ls []string
		for _, l := range b.Listeners {
			ls = append(ls, fmt.Sprintf("%s://%s:%d", l.Name, l.Host, l.Port))
		}
		fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", id, state, b.Epoch, b.Rack, strings.Join(ls, ","))
	}
	tw.Flush()
	fmt.Fprintln(w)
	tw = tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TOPIC\tPARTITION\tLEADER\tLEADER EPOCH\tREPLICAS\tISR\t")
	for _, name := range im.TopicNames() {
		for i, p := range im.Topics[name].Partitions {
			under := p.Leader < 0 || len(p.ISR) < len(p.Replicas)
			if underReplicatedOnly && !under {
				continue
			}
			leader, note := fmt.Sprint(p.Leader), ""
			if p.Leader < 0 {
				leader, note = "none", "offline"
			} else if under {
				note = "under-replicated"
			}
			fmt.Fprintf(tw, "%s\t%d\t%s\t%d\t%s\t%s\t%s\n", name, i, leader, p.LeaderEpoch, ids(p.Replicas), ids(p.ISR), note)
		}
	}
	return tw.Flush()
}

func ids(v []int32) string {
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = fmt.Sprint(id)
	}
	return strings.Join(s, ",")
}
