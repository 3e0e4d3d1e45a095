// Command strata is the Strata broker and its command-line clients.
//
//	strata serve [flags]                 run the broker
//	strata topic create|list|describe|delete|alter-config ...
//	strata produce TOPIC [flags]         produce lines from stdin
//	strata consume TOPIC [flags]         print records
//	strata group list|describe|seek|delete consumer groups and their lag
//	strata tier cat|verify|restore|status  read, check and replay the bucket
//	strata bench [flags]                 produce/consume throughput and latency
//
// Client commands speak the Kafka protocol through franz-go, exactly like any other client,
// so they work against Strata or any Kafka cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// streams are the standard streams a command uses; tests substitute buffers.
type streams struct {
	in  io.Reader
	out io.Writer
	err io.Writer
}

// command is one subcommand. run gets the arguments after the subcommand's name.
type command struct {
	summary string
	run     func(ctx context.Context, s streams, args []string) error
}

// commands is the dispatcher table: a new subcommand (group, tier ...) is one more entry, so
// the set of subcommands is visible in one place.
var commands map[string]command

func init() {
	commands = map[string]command{
		"serve":       {"run the broker", runServe},
		"topic":       {"create, list, describe, delete topics and alter their configs", runTopic},
		"produce":     {"produce lines from stdin to a topic", runProduce},
		"consume":     {"print records of a topic", runConsume},
		"group":       {"list, describe, seek and delete consumer groups (lag per partition)", runGroup},
		"tier":        {"the bucket without a broker: cat, verify, restore; and tier status", runTier},
		"bench":       {"measure produce and consume throughput (optionally against kfake)", runBench},
		"version":     {"print the version", runVersion},
		"config-keys": {"print the reference of every configuration key (Markdown)", runConfigKeys},
		"user":        {"create, list, delete SCRAM users (also used by SASL/PLAIN)", runUser},
		"acl":         {"create, list, delete ACLs", runACL},
		"quorum":      {"show the metadata quorum: controller, brokers, partitions (replicas, ISR, leader)", runQuorum},
	}
}

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func runVersion(_ context.Context, s streams, _ []string) error {
	fmt.Fprintln(s.out, "strata", version)
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: strata <command> [flags]")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "commands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-9s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "run 'strata <command> -h' for the flags of a command")
}

// errUsage marks an error caused by bad arguments; main exits with status 2 for it.
var errUsage = errors.New("usage error")

func usageErrorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errUsage, fmt.Sprintf(format, args...))
}

// dispatch runs the subcommand named by args[0].
func dispatch(ctx context.Context, s streams, args []string) error {
	if len(args) == 0 {
		usage(s.err)
		return errUsage
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help", "help":
		usage(s.out)
		return nil
	case "-version", "--version":
		name = "version"
	}
	cmd, ok := commands[name]
	if !ok {
		usage(s.err)
		return usageErrorf("unknown command %q", name)
	}
	err := cmd.run(ctx, s, args[1:])
	switch name {
	case "produce", "consume", "topic", "group", "acl", "user", "bench":
		err = wordDialError(err)
	}
	return err
}

// wordDialError replaces a client command's failure to connect (franz-go's "unable to dial:
// dial tcp ...: connect: connection refused", under whatever the command was doing) with one
// line saying which broker could not be reached and what to check.
func wordDialError(err error) error {
	var op *net.OpError
	if err == nil || errors.Is(err, errUsage) || !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	reason := op.Err.Error()
	var se *os.SyscallError
	if errors.As(op.Err, &se) {
		reason = se.Err.Error()
	}
	addr := "the broker"
	if op.Addr != nil {
		addr = op.Addr.String()
	}
	return fmt.Errorf("cannot reach a broker at %s: %s (is strata serve running? see --brokers / $STRATA_BROKERS)", addr, reason)
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(s streams, name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintf(s.err, "usage: strata %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args allowing flags after positional arguments
// ("strata produce orders --acks 1"), which the flag package alone stops at.
func parseFlags(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second SIGINT/SIGTERM kills the process at once
	}()
	err := dispatch(ctx, streams{in: os.Stdin, out: os.Stdout, err: os.Stderr}, os.Args[1:])
	switch {
	case err == nil:
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.Is(err, errUsage):
		if err != errUsage { // bare errUsage: the usage text was already printed
			fmt.Fprintln(os.Stderr, "strata:", strings.TrimPrefix(err.Error(), errUsage.Error()+": "))
		}
		os.Exit(2)
	default:
		fmt.Fprintln(os.Stderr, "strata:", err)
		os.Exit(1)
	}
}
