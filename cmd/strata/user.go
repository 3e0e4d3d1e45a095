package main

// strata user create|list|delete: SCRAM users through AlterUserScramCredentials and
// DescribeUserScramCredentials (KIP-554). The password is read from --password-file,
// else STRATA_USER_PASSWORD, else the first line of stdin; it is salted and hashed on
// the client (kadm) and never printed. The same users authenticate with PLAIN.
// `strata user create NAME --data-dir DIR` writes the credential straight into a stopped
// broker's data directory (Kafka's kafka-storage --add-scram): the first, super user.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/strata-io/strata/broker"
)

func runUser(ctx context.Context, s streams, args []string) error {
	sub := map[string]func(context.Context, streams, []string) error{
		"create": runUserCreate,
		"list":   runUserList,
		"delete": runUserDelete,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(s.err, "usage: strata user create|list|delete [flags]")
		if len(args) == 0 {
			return errUsage
		}
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return usageErrorf("unknown user command %q", args[0])
	}
	return sub[args[0]](ctx, s, args[1:])
}

func parseScramMechanism(m string) (kadm.ScramMechanism, error) {
	switch strings.ToUpper(strings.TrimSpace(m)) {
	case "SCRAM-SHA-256":
		return kadm.ScramSha256, nil
	case "SCRAM-SHA-512":
		return kadm.ScramSha512, nil
	}
	return 0, usageErrorf("unknown mechanism %q (SCRAM-SHA-256 or SCRAM-SHA-512)", m)
}

func runUserCreate(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "user create", "user create NAME [--mechanism SCRAM-SHA-512] [--iterations 8192] [--password-file FILE]")
	var cf clientFlags
	cf.register(fs)
	mech := fs.String("mechanism", "SCRAM-SHA-512", "SCRAM-SHA-256 or SCRAM-SHA-512; repeat the command for both")
	iters := fs.Int("iterations", 8192, "PBKDF2 iterations (4096-16384)")
	pwFile := fs.String("password-file", "", "file whose first line is the password (else env STRATA_USER_PASSWORD, else stdin)")
	dataDir := fs.String("data-dir", "", "write the credential into this log.dirs of a stopped broker instead of asking a running one (bootstraps the first user)")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) != 1 {
		return usageErrorf("user create: want exactly one user name")
	}
	m, err := parseScramMechanism(*mech)
	if err != nil {
		return err
	}
	pass := envOr("STRATA_USER_PASSWORD", "")
	if *pwFile != "" {
		if pass, err = readSecretFile(*pwFile); err != nil {
			return err
		}
	} else if pass == "" {
		line, err := bufio.NewReader(s.in).ReadString('\n')
		if err != nil && line == "" {
			return usageErrorf("user create: no password (--password-file, STRATA_USER_PASSWORD or stdin)")
		}
		pass = strings.TrimRight(line, "\r\n")
	}
	if pass == "" {
		return usageErrorf("user create: empty password")
	}
	if *dataDir != "" {
		if err := broker.SetSCRAMCredentialOffline(*dataDir, names[0], strings.ToUpper(*mech), pass, *iters); err != nil {
			return fmt.Errorf("cannot create user %q in %q: %w", names[0], *dataDir, err)
		}
		fmt.Fprintf(s.out, "user %q has a %s credential (%d iterations) in %s; start the broker to use it\n", names[0], m, *iters, *dataDir)
		return nil
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	res, err := adm.AlterUserSCRAMs(ctx, nil, []kadm.UpsertSCRAM{{User: names[0], Mechanism: m, Iterations: int32(*iters), Password: pass}})
	if err != nil {
		return fmt.Errorf("cannot create user %q: %w", names[0], err)
	}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("cannot create user %q: %s", r.User, errText(r.Err, r.ErrMessage))
		}
	}
	fmt.Fprintf(s.out, "user %q has a %s credential (%d iterations)\n", names[0], m, *iters)
	return nil
}

func runUserList(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "user list", "user list [NAME...]")
	var cf clientFlags
	cf.register(fs)
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	res, err := adm.DescribeUserSCRAMs(ctx, names...)
	if err != nil {
		return fmt.Errorf("cannot list users: %w", err)
	}
	users := make([]string, 0, len(res))
	for u := range res {
		users = append(users, u)
	}
	sort.Strings(users)
	fmt.Fprintf(s.out, "%-24s %-14s %s\n", "USER", "MECHANISM", "ITERATIONS")
	var errs []error // each printed once, by main
	for _, u := range users {
		r := res[u]
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("cannot describe user %q: %s", u, errText(r.Err, r.ErrMessage)))
			continue
		}
		for _, ci := range r.CredInfos {
			fmt.Fprintf(s.out, "%-24s %-14s %d\n", u, ci.Mechanism, ci.Iterations)
		}
	}
	return errors.Join(errs...)
}

func runUserDelete(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "user delete", "user delete NAME... [--mechanism M] (default: every mechanism of the user)")
	var cf clientFlags
	cf.register(fs)
	mech := fs.String("mechanism", "", "delete only this mechanism's credential")
	names, err := parseFlags(fs, args)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return usageErrorf("user delete: missing user name")
	}
	adm, cl, err := cf.newAdmin()
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cf.timeout)
	defer cancel()
	var dels []kadm.DeleteSCRAM
	if *mech != "" {
		m, err := parseScramMechanism(*mech)
		if err != nil {
			return err
		}
		for _, n := range names {
			dels = append(dels, kadm.DeleteSCRAM{User: n, Mechanism: m})
		}
	} else {
		desc, err := adm.DescribeUserSCRAMs(ctx, names...)
		if err != nil {
			return fmt.Errorf("cannot describe users: %w", err)
		}
		for _, n := range names {
			r := desc[n]
			if r.Err != nil {
				return fmt.Errorf("cannot delete user %q: %s", n, errText(r.Err, r.ErrMessage))
			}
			for _, ci := range r.CredInfos {
				dels = append(dels, kadm.DeleteSCRAM{User: n, Mechanism: ci.Mechanism})
			}
		}
	}
	res, err := adm.AlterUserSCRAMs(ctx, dels, nil)
	if err != nil {
		return fmt.Errorf("cannot delete users: %w", err)
	}
	var errs []error
	for _, n := range names {
		if r, ok := res[n]; ok && r.Err != nil {
			errs = append(errs, fmt.Errorf("cannot delete user %q: %s", n, errText(r.Err, r.ErrMessage)))
			continue
		}
		fmt.Fprintf(s.out, "deleted user %q\n", n)
	}
	return errors.Join(errs...)
}
