package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// defaultBrokers is used when neither --brokers nor STRATA_BROKERS is given.
const defaultBrokers = "127.0.0.1:9092"

// clientFlags are the flags every client command shares.
type clientFlags struct {
	brokers string
	timeout time.Duration
	sec     clientSecurity // TLS and SASL (security.go)
}

func (c *clientFlags) register(fs *flag.FlagSet) {
	def := defaultBrokers
	if v := os.Getenv("STRATA_BROKERS"); v != "" {
		def = v
	}
	fs.StringVar(&c.brokers, "brokers", def, "comma-separated bootstrap brokers (env STRATA_BROKERS)")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "how long to wait for a broker: connecting, admin requests, a produced record's acknowledgement")
	c.sec.register(fs)
}

func (c *clientFlags) seeds() []string {
	var out []string
	for _, b := range strings.Split(c.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			out = append(out, b)
		}
	}
	return out
}

// newClient builds a franz-go client for the seed brokers plus opts.
func (c *clientFlags) newClient(opts ...kgo.Opt) (*kgo.Client, error) {
	seeds := c.seeds()
	if len(seeds) == 0 {
		return nil, usageErrorf("--brokers is empty")
	}
	secOpts, err := c.sec.opts()
	if err != nil {
		return nil, err
	}
	all := append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("strata-cli")}, secOpts...)
	all = append(all, opts...)
	cl, err := kgo.NewClient(all...)
	if err != nil {
		return nil, fmt.Errorf("cannot create client for %s: %w", c.brokers, err)
	}
	return cl, nil
}

// newAdmin builds an admin client; close the returned kgo client when done.
func (c *clientFlags) newAdmin() (*kadm.Client, *kgo.Client, error) {
	cl, err := c.newClient()
	if err != nil {
		return nil, nil, err
	}
	return kadm.NewClient(cl), cl, nil
}

// brokerUnreachable words a failure to reach any seed broker as one line the user can act
// on; other errors are returned as they are.
func brokerUnreachable(c *clientFlags, err error) error {
	var op *net.OpError
	switch {
	case errors.As(err, &op) && op.Op == "dial":
		reason := op.Err.Error()
		var se *os.SyscallError
		if errors.As(op.Err, &se) {
			reason = se.Err.Error()
		}
		return fmt.Errorf("cannot reach a broker at %s: %s (is strata serve running? see --brokers / $STRATA_BROKERS)", c.brokers, reason)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("no broker at %s answered within %s (see --brokers / $STRATA_BROKERS, --timeout)", c.brokers, c.timeout)
	}
	return err
}
