package security

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// The decision table checks Authorizer against Kafka's documented authorizer semantics
// (docs "Authorization and ACLs", KIP-290 prefixed ACLs, StandardAuthorizer). The rules
// the generated cases follow, stated independently of the implementation:
//
//   R1 implication: an ALLOW for operation G permits operation O iff G == O, G == ALL,
//      O == DESCRIBE and G in {READ, WRITE, DELETE, ALTER}, or O == DESCRIBE_CONFIGS and
//      G == ALTER_CONFIGS (the table below, copied from the Kafka docs' list).
//   R2 a DENY for O or ALL denies O, even alongside any ALLOW; a DENY for another
//      operation does not deny O (deny has no implications).
//   R3 an ACL applies only if its resource type is the resource's, its pattern matches
//      the name (LITERAL equal or '*', PREFIXED prefix), its principal is the principal or
//      User:*, and its host is the client host or '*'.
//   R4 a resource no ACL pattern matches falls back to allow.everyone.if.no.acl.found; a
//      resource with matching patterns but no applicable ALLOW is denied.
//   R5 super users are allowed everything, DENY included.

var concreteOps = []kmsg.ACLOperation{
	kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationCreate, kmsg.ACLOperationDelete,
	kmsg.ACLOperationAlter, kmsg.ACLOperationDescribe, kmsg.ACLOperationClusterAction,
	kmsg.ACLOperationDescribeConfigs, kmsg.ACLOperationAlterConfigs, kmsg.ACLOperationIdempotentWrite,
	kmsg.ACLOperationCreateTokens, kmsg.ACLOperationDescribeTokens,
}

// implies is R1 as the Kafka documentation lists it: operation -> operations whose ALLOW
// also permits it.
var implies = map[kmsg.ACLOperation][]kmsg.ACLOperation{
	kmsg.ACLOperationDescribe:        {kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter},
	kmsg.ACLOperationDescribeConfigs: {kmsg.ACLOperationAlterConfigs},
}

func permits(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	for _, g := range implies[op] {
		if g == granted {
			return true
		}
	}
	return false
}

type aclCase struct {
	name      string
	acls      []ACL
	supers    []string
	allowNone bool
	principal string
	host      string
	op        kmsg.ACLOperation
	rt        kmsg.ACLResourceType
	resource  string
	want      bool
}

func lit(rt kmsg.ACLResourceType, name, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	return ACL{ResourceType: rt, ResourceName: name, PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: principal, Host: host, Operation: op, Permission: perm}
}

func pre(rt kmsg.ACLResourceType, name, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL {
	a := lit(rt, name, principal, host, op, perm)
	a.PatternType = kmsg.ACLResourcePatternTypePrefixed
	return a
}

const (
	allow = kmsg.ACLPermissionTypeAllow
	deny  = kmsg.ACLPermissionTypeDeny
	topic = kmsg.ACLResourceTypeTopic
	grp   = kmsg.ACLResourceTypeGroup
)

func generatedACLCases() []aclCase {
	var cases []aclCase
	alice := "User:alice"
	grants := append([]kmsg.ACLOperation{kmsg.ACLOperationAll}, concreteOps...)
	// R1, R2: one ACL of each operation and permission, every requested operation.
	for _, g := range grants {
		for _, op := range concreteOps {
			cases = append(cases, aclCase{
				name: fmt.Sprintf("R1 allow %v -> %v", g, op), principal: alice, host: "10.0.0.1", op: op, rt: topic, resource: "orders",
				acls: []ACL{lit(topic, "orders", alice, "*", g, allow)}, want: permits(g, op),
			})
			cases = append(cases, aclCase{
				name: fmt.Sprintf("R2 deny %v only -> %v", g, op), principal: alice, host: "10.0.0.1", op: op, rt: topic, resource: "orders",
				acls: []ACL{lit(topic, "orders", alice, "*", g, deny)}, want: false,
			})
			cases = append(cases, aclCase{
				name: fmt.Sprintf("R2 allow ALL + deny %v -> %v", g, op), principal: alice, host: "10.0.0.1", op: op, rt: topic, resource: "orders",
				acls: []ACL{lit(topic, "orders", alice, "*", kmsg.ACLOperationAll, allow), pre(topic, "ord", alice, "*", g, deny)},
				want: !(g == op || g == kmsg.ACLOperationAll),
			})
		}
	}
	// R3, R4: pattern x principal x host, with and without allow.everyone.if.no.acl.found.
	type pat struct {
		acl     func(rt kmsg.ACLResourceType, name, principal, host string, op kmsg.ACLOperation, perm kmsg.ACLPermissionType) ACL
		name    string
		matches bool
	}
	pats := []pat{
		{lit, "orders", true}, {lit, "*", true}, {pre, "ord", true}, {pre, "orders", true},
		{lit, "order", false}, {pre, "orders-", false}, {pre, "x", false}, {lit, "Orders", false},
	}
	principals := []struct {
		p       string
		matches bool
	}{{alice, true}, {"User:*", true}, {"User:bob", false}, {"Group:alice", false}}
	hosts := []struct {
		h       string
		matches bool
	}{{"*", true}, {"10.0.0.1", true}, {"10.0.0.2", false}}
	for _, pt := range pats {
		for _, pr := range principals {
			for _, h := range hosts {
				for _, allowNone := range []bool{false, true} {
					want := pt.matches && pr.matches && h.matches
					if !pt.matches {
						want = allowNone // R4: the resource has no ACLs at all
					}
					a := pt.acl(topic, pt.name, pr.p, h.h, kmsg.ACLOperationRead, allow)
					cases = append(cases, aclCase{
						name:      fmt.Sprintf("R3 %v %q %s %s none=%v", a.PatternType, pt.name, pr.p, h.h, allowNone),
						principal: alice, host: "10.0.0.1", op: kmsg.ACLOperationRead, rt: topic, resource: "orders",
						acls: []ACL{a}, allowNone: allowNone, want: want,
					})
				}
			}
		}
	}
	// R3: the resource type must match (a TOPIC ACL says nothing about a GROUP of the same name).
	for _, allowNone := range []bool{false, true} {
		for _, op := range concreteOps {
			cases = append(cases, aclCase{
				name: fmt.Sprintf("R3 type mismatch %v none=%v", op, allowNone), principal: alice, host: "h", op: op, rt: grp, resource: "orders",
				acls: []ACL{lit(topic, "orders", alice, "*", kmsg.ACLOperationAll, allow)}, allowNone: allowNone, want: allowNone,
			})
		}
	}
	// R5: super users pass everything, even an explicit DENY ALL.
	for _, op := range concreteOps {
		for _, rt := range []kmsg.ACLResourceType{topic, grp, kmsg.ACLResourceTypeCluster, kmsg.ACLResourceTypeTransactionalId} {
			cases = append(cases, aclCase{
				name: fmt.Sprintf("R5 super %v %v", op, rt), principal: "User:admin", host: "h", op: op, rt: rt, resource: "r",
				supers: []string{"User:admin"},
				acls:   []ACL{lit(rt, "*", "User:*", "*", kmsg.ACLOperationAll, deny)}, want: true,
			})
		}
	}
	return cases
}

func handACLCases() []aclCase {
	alice := "User:alice"
	return []aclCase{
		{name: "no acls, default deny", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t", want: false},
		{name: "no acls, allow.everyone", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t", allowNone: true, want: true},
		{name: "acl for another principal makes the resource protected", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t",
			allowNone: true, acls: []ACL{lit(topic, "t", "User:bob", "*", kmsg.ACLOperationRead, allow)}, want: false},
		{name: "deny READ does not deny DESCRIBE", principal: alice, host: "h", op: kmsg.ACLOperationDescribe, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationAll, allow), lit(topic, "t", alice, "*", kmsg.ACLOperationRead, deny)}, want: true},
		{name: "deny DESCRIBE does not deny READ", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationRead, allow), lit(topic, "t", alice, "*", kmsg.ACLOperationDescribe, deny)}, want: true},
		{name: "wildcard deny for everyone beats literal allow", principal: alice, host: "h", op: kmsg.ACLOperationWrite, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationWrite, allow), lit(topic, "*", "User:*", "*", kmsg.ACLOperationWrite, deny)}, want: false},
		{name: "deny from another host does not apply", principal: alice, host: "1.1.1.1", op: kmsg.ACLOperationWrite, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationWrite, allow), lit(topic, "t", alice, "2.2.2.2", kmsg.ACLOperationWrite, deny)}, want: true},
		{name: "deny from this host applies", principal: alice, host: "2.2.2.2", op: kmsg.ACLOperationWrite, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationWrite, allow), lit(topic, "t", alice, "2.2.2.2", kmsg.ACLOperationWrite, deny)}, want: false},
		{name: "prefixed empty-ish prefix matches everything it prefixes", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: grp, resource: "app-1",
			acls: []ACL{pre(grp, "app-", alice, "*", kmsg.ACLOperationRead, allow)}, want: true},
		{name: "literal '*' is not a prefix pattern", principal: alice, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "*x",
			acls: []ACL{pre(topic, "*x-", alice, "*", kmsg.ACLOperationRead, allow)}, want: false},
		{name: "cluster create", principal: alice, host: "h", op: kmsg.ACLOperationCreate, rt: kmsg.ACLResourceTypeCluster, resource: ClusterName,
			acls: []ACL{lit(kmsg.ACLResourceTypeCluster, ClusterName, alice, "*", kmsg.ACLOperationCreate, allow)}, want: true},
		{name: "transactional id write", principal: alice, host: "h", op: kmsg.ACLOperationWrite, rt: kmsg.ACLResourceTypeTransactionalId, resource: "tx-1",
			acls: []ACL{pre(kmsg.ACLResourceTypeTransactionalId, "tx-", alice, "*", kmsg.ACLOperationWrite, allow)}, want: true},
		{name: "transactional id describe implied by write", principal: alice, host: "h", op: kmsg.ACLOperationDescribe, rt: kmsg.ACLResourceTypeTransactionalId, resource: "tx-1",
			acls: []ACL{pre(kmsg.ACLResourceTypeTransactionalId, "tx-", alice, "*", kmsg.ACLOperationWrite, allow)}, want: true},
		{name: "ANONYMOUS is a principal like any other", principal: Anonymous, host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t",
			acls: []ACL{lit(topic, "t", "User:*", "*", kmsg.ACLOperationRead, allow)}, want: true},
		{name: "super user list is exact", principal: "User:Admin", host: "h", op: kmsg.ACLOperationRead, rt: topic, resource: "t",
			supers: []string{"User:admin"}, want: false},
	}
}

func TestAuthorizerDecisionTable(t *testing.T) {
	cases := append(generatedACLCases(), handACLCases()...)
	if len(cases) < 200 {
		t.Fatalf("only %d cases", len(cases))
	}
	for _, c := range cases {
		a := NewAuthorizer(c.supers, c.allowNone)
		a.addLocked(c.acls...)
		if got := a.Authorize(c.principal, c.host, c.op, c.rt, c.resource); got != c.want {
			t.Errorf("%s: Authorize(%s, %s, %v, %v, %q) = %v, want %v; acls %+v", c.name, c.principal, c.host, c.op, c.rt, c.resource, got, c.want, c.acls)
		}
	}
	t.Logf("%d cases", len(cases))
}

func TestACLFilterMatch(t *testing.T) {
	a := pre(topic, "ord", "User:alice", "*", kmsg.ACLOperationRead, allow)
	s := func(v string) *string { return &v }
	f := func(fl ACLFilter, want bool) {
		t.Helper()
		if fl.Operation == 0 {
			fl.Operation = kmsg.ACLOperationAny
		}
		if fl.Permission == 0 {
			fl.Permission = kmsg.ACLPermissionTypeAny
		}
		if got := fl.Matches(a); got != want {
			t.Errorf("%+v matches = %v, want %v", fl, got, want)
		}
	}
	f(ACLFilter{ResourceType: kmsg.ACLResourceTypeAny, PatternType: kmsg.ACLResourcePatternTypeAny}, true)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeMatch, ResourceName: s("orders")}, true)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeMatch, ResourceName: s("x")}, false)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeLiteral, ResourceName: s("ord")}, false)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypePrefixed, ResourceName: s("ord")}, true)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeAny, ResourceName: s("ord")}, true)
	f(ACLFilter{ResourceType: grp, PatternType: kmsg.ACLResourcePatternTypeAny}, false)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeAny, Principal: s("User:bob")}, false)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeAny, Host: s("*")}, true)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeAny, Operation: kmsg.ACLOperationWrite}, false)
	f(ACLFilter{ResourceType: topic, PatternType: kmsg.ACLResourcePatternTypeAny, Permission: deny}, false)
}

func TestPrincipalMappingRules(t *testing.T) {
	f := func(rules, dn, want string) {
		t.Helper()
		r, err := parsePrincipalRules(rules)
		if err != nil {
			t.Fatalf("%q: %v", rules, err)
		}
		if got := mapPrincipal(r, dn); got != want {
			t.Errorf("%q on %q = %q, want %q", rules, dn, got, want)
		}
	}
	f("DEFAULT", "CN=alice,O=Acme", "CN=alice,O=Acme")
	f("RULE:^CN=(.*?),O=Acme$/$1/,DEFAULT", "CN=alice,O=Acme", "alice")
	f("RULE:^CN=(.*?),O=Acme$/$1/L,DEFAULT", "CN=Alice,O=Acme", "alice")
	f("RULE:^CN=(.*?),O=Acme$/$1/U,DEFAULT", "CN=alice,O=Other", "CN=alice,O=Other")
	f("RULE:^CN=([^,]*).*$/u-$1\\/x/", "CN=bob,O=X", "u-bob/x")
	if _, err := parsePrincipalRules("RULE:abc"); err == nil {
		t.Error("unterminated rule accepted")
	}
	if _, err := parsePrincipalRules("BOGUS"); err == nil {
		t.Error("bogus rule accepted")
	}
}

func TestAuthorizeAny(t *testing.T) {
	alice, w := "User:alice", kmsg.ACLOperationWrite
	f := func(name string, acls []ACL, allowNone, want bool) {
		t.Helper()
		a := NewAuthorizer(nil, allowNone)
		a.addLocked(acls...)
		if got := a.AuthorizeAny(alice, "h", w, topic); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	f("no acls", nil, false, false)
	f("no acls, allow everyone", nil, true, true)
	f("literal allow", []ACL{lit(topic, "t", alice, "*", w, allow)}, false, true)
	f("prefixed allow", []ACL{pre(topic, "app-", alice, "*", w, allow)}, false, true)
	f("implied does not go up", []ACL{lit(topic, "t", alice, "*", kmsg.ACLOperationDescribe, allow)}, false, false)
	f("all allows", []ACL{lit(topic, "t", "User:*", "*", kmsg.ACLOperationAll, allow)}, false, true)
	f("other principal", []ACL{lit(topic, "t", "User:bob", "*", w, allow)}, true, false)
	f("wildcard deny", []ACL{lit(topic, "t", alice, "*", w, allow), lit(topic, "*", alice, "*", w, deny)}, false, false)
	f("literal deny of the same name", []ACL{lit(topic, "t", alice, "*", w, allow), lit(topic, "t", alice, "*", w, deny)}, false, false)
	f("prefix deny dominates literal", []ACL{lit(topic, "app-1", alice, "*", w, allow), pre(topic, "app", alice, "*", w, deny)}, false, false)
	f("prefix deny dominates longer prefix", []ACL{pre(topic, "app-1", alice, "*", w, allow), pre(topic, "app-", alice, "*", w, deny)}, false, false)
	f("literal deny does not dominate prefix", []ACL{pre(topic, "app-", alice, "*", w, allow), lit(topic, "app-", alice, "*", w, deny)}, false, true)
	f("narrower deny does not dominate", []ACL{pre(topic, "app-", alice, "*", w, allow), pre(topic, "app-1", alice, "*", w, deny)}, false, true)
	f("one undominated allow suffices", []ACL{lit(topic, "a", alice, "*", w, allow), lit(topic, "b", alice, "*", w, allow), lit(topic, "a", alice, "*", w, deny)}, false, true)
	f("deny for another op", []ACL{lit(topic, "t", alice, "*", w, allow), lit(topic, "*", alice, "*", kmsg.ACLOperationRead, deny)}, false, true)
}

// BenchmarkAuthorize: one decision among 1000 ACLs (the linear scan the hot path pays per
// topic and request when an authorizer is configured).
func BenchmarkAuthorize(b *testing.B) {
	a := NewAuthorizer(nil, false)
	for i := range 1000 {
		a.addLocked(lit(topic, fmt.Sprintf("topic-%d", i), fmt.Sprintf("User:u%d", i), "*", kmsg.ACLOperationRead, allow))
	}
	a.addLocked(pre(topic, "topic-5", "User:alice", "*", kmsg.ACLOperationWrite, allow))
	for b.Loop() {
		if !a.Authorize("User:alice", "10.0.0.1", kmsg.ACLOperationWrite, topic, "topic-500") {
			b.Fatal("denied")
		}
	}
}
