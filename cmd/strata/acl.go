package main

// strata acl create|list|delete: ACLs through CreateAcls, DescribeAcls and DeleteAcls,
// with Kafka's kafka-acls.sh vocabulary.
//
//   strata acl create --allow User:alice --operation read,describe --topic orders [--pattern prefixed] [--host *]
//   strata acl list [--topic T] [--group G] [--cluster] [--transactional-id X] [--principal P] [--pattern any|match|literal|prefixed]
//   strata acl delete --topic orders [--principal User:alice] [--operation read]
//
// A list or delete without resource flags selects every resource; delete then needs --all.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func runACL(ctx context.Context, s streams, args []string) error {
	sub := map[string]func(context.Context, streams, []string) error{
		"create": runACLCreate,
		"list":   runACLList,
		"delete": runACLDelete,
	}
	if len(args) == 0 || sub[args[0]] == nil {
		fmt.Fprintln(s.err, "usage: strata acl create|list|delete [flags]")
		if len(args) == 0 {
			return errUsage
		}
		if args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
			return nil
		}
		return usageErrorf("unknown acl command %q", args[0])
	}
	return sub[args[0]](ctx, s, args[1:])
}

// csvFlag collects repeatable, comma-separated values.
type csvFlag []string

func (l *csvFlag) String() string { return strings.Join(*l, ",") }
func (l *csvFlag) Set(v string) error {
	for p := range strings.SplitSeq(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

// aclFlags are the resource, principal and operation flags.
type aclFlags struct {
	topics, groups, txnIDs csvFlag
	cluster                bool
	allow, deny            csvFlag
	principals             csvFlag // list/delete filter: either permission
	hosts                  csvFlag
	ops                    csvFlag
	pattern                string
}

func (a *aclFlags) register(fs *flag.FlagSet, create bool) {
	fs.Var(&a.topics, "topic", "topic name or prefix (repeatable, comma-separated)")
	fs.Var(&a.groups, "group", "consumer group name or prefix")
	fs.Var(&a.txnIDs, "transactional-id", "transactional id or prefix")
	fs.BoolVar(&a.cluster, "cluster", false, "the cluster resource (kafka-cluster)")
	fs.Var(&a.allow, "allow", "principal to allow, e.g. User:alice or User:* (repeatable)")
	fs.Var(&a.deny, "deny", "principal to deny (repeatable)")
	fs.Var(&a.hosts, "host", "client host the ACL applies to (default *)")
	fs.Var(&a.ops, "operation", "operations: all, read, write, create, delete, alter, describe, cluster_action, describe_configs, alter_configs, idempotent_write")
	def := "literal"
	if !create {
		def = "any"
		fs.Var(&a.principals, "principal", "only ACLs of this principal (allow or deny)")
	}
	fs.StringVar(&a.pattern, "pattern", def, "resource pattern: literal or prefixed (list/delete also: any, match)")
}

func (a *aclFlags) hasResource() bool {
	return len(a.topics) > 0 || len(a.groups) > 0 || len(a.txnIDs) > 0 || a.cluster
}

// builder turns the flags into a kadm builder; filter selects list/delete semantics.
func (a *aclFlags) builder(filter bool) (*kadm.ACLBuilder, error) {
	b := kadm.NewACLs()
	pt, err := kmsg.ParseACLResourcePatternType(a.pattern)
	if err != nil {
		return nil, usageErrorf("--pattern %q: %v", a.pattern, err)
	}
	b.ResourcePatternType(pt)
	var ops []kadm.ACLOperation
	for _, o := range a.ops {
		op, err := kmsg.ParseACLOperation(strings.ReplaceAll(o, "-", "_"))
		if err != nil {
			return nil, usageErrorf("--operation %q: %v", o, err)
		}
		ops = append(ops, op)
	}
	hosts := []string(a.hosts)
	if len(hosts) == 0 && !filter {
		hosts = []string{"*"}
	}
	if filter {
		if !a.hasResource() {
			b.AnyResource()
		} else {
			b.MaybeTopics(a.topics...).MaybeGroups(a.groups...).MaybeTransactionalIDs(a.txnIDs...).MaybeClusters(a.cluster)
		}
		if len(ops) == 0 {
			ops = []kadm.ACLOperation{kadm.OpAny}
		}
		b.Operations(ops...)
		allow := append(append([]string(nil), a.allow...), a.principals...)
		deny := append(append([]string(nil), a.deny...), a.principals...)
		if len(allow)+len(deny) == 0 {
			b.Allow().Deny() // any principal, either permission
		} else {
			b.MaybeAllow(allow...).MaybeDeny(deny...)
		}
		b.AllowHosts(hosts...).DenyHosts(hosts...) // none given: any host
		return b, nil
	}
	if !a.hasResource() {
		return nil, usageErrorf("acl create: name a resource (--topic, --group, --transactional-id or --cluster)")
	}
	if len(a.allow) == 0 && len(a.deny) == 0 {
		return nil, usageErrorf("acl create: give --allow or --deny")
	}
	if len(ops) == 0 {
		return nil, usageErrorf("acl create: give --operation")
	}
	b.MaybeTopics(a.topics...).MaybeGroups(a.groups...).MaybeTransactionalIDs(a.txnIDs...).MaybeClusters(a.cluster)
	b.Operations(ops...)
	if len(a.allow) > 0 {
		b.Allow(a.allow...).AllowHosts(hosts...)
	}
	if len(a.deny) > 0 {
		b.Deny(a.deny...).DenyHosts(hosts...)
	}
	return b, nil
}

func aclLine(rt kmsg.ACLResourceType, name string, pt kmsg.ACLResourcePatternType, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) string {
	return fmt.Sprintf("%-16s %-24s %-9s %-24s %-6s %-16s %s",
		strings.ToLower(rt.String()), name, strings.ToLower(pt.String()), principal, strings.ToLower(perm.String()), strings.ToLower(op.String()), host)
}

const aclHeader = "RESOURCE         NAME                     PATTERN   PRINCIPAL                PERM   OPERATION        HOST"

func runACLCreate(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "acl create", "acl create --allow|--deny PRINCIPAL --operation OP[,OP] --topic|--group|--transactional-id NAME|--cluster [--pattern prefixed] [--host H]")
	var cf clientFlags
	cf.register(fs)
	var af aclFlags
	af.register(fs, true)
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageErrorf("acl create: unexpected arguments %v", rest)
	}
	b, err := af.builder(false)
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
	res, err := adm.CreateACLs(ctx, b)
	if err != nil {
		return fmt.Errorf("cannot create acls: %w", err)
	}
	var errs []error // each printed once, by main
	for _, r := range res {
		line := aclLine(r.Type, r.Name, r.Pattern, r.Principal, r.Host, r.Operation, r.Permission)
		if r.Err != nil {
			errs = append(errs, fmt.Errorf("cannot create %s: %s", line, errText(r.Err, r.ErrMessage)))
			continue
		}
		fmt.Fprintf(s.out, "created %s\n", line)
	}
	return errors.Join(errs...)
}

func runACLList(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "acl list", "acl list [--topic T] [--group G] [--transactional-id X] [--cluster] [--principal P] [--operation OP] [--pattern any|match|literal|prefixed]")
	var cf clientFlags
	cf.register(fs)
	var af aclFlags
	af.register(fs, false)
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageErrorf("acl list: unexpected arguments %v", rest)
	}
	b, err := af.builder(true)
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
	res, err := adm.DescribeACLs(ctx, b)
	if err != nil {
		return fmt.Errorf("cannot list acls: %w", err)
	}
	seen := map[string]bool{}
	var lines []string
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("cannot list acls: %s", errText(r.Err, r.ErrMessage))
		}
		for _, d := range r.Described {
			l := aclLine(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission)
			if !seen[l] {
				seen[l] = true
				lines = append(lines, l)
			}
		}
	}
	sort.Strings(lines)
	fmt.Fprintln(s.out, aclHeader)
	for _, l := range lines {
		fmt.Fprintln(s.out, l)
	}
	return nil
}

func runACLDelete(ctx context.Context, s streams, args []string) error {
	fs := newFlagSet(s, "acl delete", "acl delete [--topic T] [--group G] [--transactional-id X] [--cluster] [--principal P] [--operation OP] [--pattern ...] [--all]")
	var cf clientFlags
	cf.register(fs)
	var af aclFlags
	af.register(fs, false)
	all := fs.Bool("all", false, "allow deleting every ACL when no resource is named")
	if rest, err := parseFlags(fs, args); err != nil {
		return err
	} else if len(rest) > 0 {
		return usageErrorf("acl delete: unexpected arguments %v", rest)
	}
	if !af.hasResource() && !*all {
		return usageErrorf("acl delete: name a resource or give --all")
	}
	b, err := af.builder(true)
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
	res, err := adm.DeleteACLs(ctx, b)
	if err != nil {
		return fmt.Errorf("cannot delete acls: %w", err)
	}
	seen := map[string]bool{}
	for _, r := range res {
		if r.Err != nil {
			return fmt.Errorf("cannot delete acls: %s", errText(r.Err, r.ErrMessage))
		}
		for _, d := range r.Deleted {
			l := aclLine(d.Type, d.Name, d.Pattern, d.Principal, d.Host, d.Operation, d.Permission)
			if !seen[l] {
				seen[l] = true
				fmt.Fprintf(s.out, "deleted %s\n", l)
			}
		}
	}
	if len(seen) == 0 {
		fmt.Fprintln(s.out, "no acl matched")
	}
	return nil
}
