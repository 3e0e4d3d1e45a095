package security

import (
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// FuzzSCRAMServer: any client-first/client-final pair is answered or refused, never
// panics, and is accepted only with the right proof (the fuzzer cannot forge one).
func FuzzSCRAMServer(f *testing.F) {
	s := storeWithUser("bob", MechSCRAM256, []byte("fuzz-salt-123456"), "pw")
	f.Add("n,,n=bob,r=abc", "c=biws,r=abc,p=AAAA")
	f.Add("y,a=bob,n=bob,r=x", "c=eSxhPWJvYiw=,r=x,e=1,p=")
	f.Add("n,,n=b=2Cob,r=", ",p=")
	f.Fuzz(func(t *testing.T, first, final string) {
		c := NewSCRAMServer(s, MechSCRAM256)
		if _, err := c.first(first); err != nil {
			return
		}
		if _, err := c.final(final); err == nil {
			t.Fatalf("accepted forged proof: %q %q", first, final)
		}
	})
}

// FuzzPrincipalRules: parsing and applying mapping rules never panics.
func FuzzPrincipalRules(f *testing.F) {
	f.Add("RULE:^CN=(.*?),.*$/$1/L,DEFAULT", "CN=a,O=b")
	f.Add("RULE:\\//x/U", "/")
	f.Fuzz(func(t *testing.T, rules, dn string) {
		if len(rules) > 256 {
			return // operator-written config; long regexps only cost compile time
		}
		r, err := parsePrincipalRules(rules)
		if err != nil {
			return
		}
		_ = mapPrincipal(r, dn)
	})
}

// FuzzACLFilterValidation: validation and matching of arbitrary enums never panic.
func FuzzACLFilterValidation(f *testing.F) {
	f.Add(int8(2), "t", int8(3), "User:a", "*", int8(3), int8(3))
	f.Fuzz(func(t *testing.T, rt int8, name string, pt int8, principal, host string, op, perm int8) {
		a := ACL{ResourceType: kmsg.ACLResourceType(rt), ResourceName: name, PatternType: kmsg.ACLResourcePatternType(pt),
			Principal: principal, Host: host, Operation: kmsg.ACLOperation(op), Permission: kmsg.ACLPermissionType(perm)}
		_ = ValidateACL(a)
		fl := ACLFilter{ResourceType: a.ResourceType, ResourceName: &name, PatternType: a.PatternType, Operation: a.Operation, Permission: a.Permission}
		_ = ValidateFilter(fl)
		_ = fl.Matches(a)
		az := NewAuthorizer(nil, false)
		az.addLocked(a)
		_ = az.Authorize(principal, host, a.Operation, a.ResourceType, name)
		_ = az.AuthorizeAny(principal, host, a.Operation, a.ResourceType)
	})
}

// FuzzOAuthInitial: any client initial response is parsed or refused without panicking; an
// accepted one has an RFC 6750 b64token and an authzid free of raw commas, and parsing is
// stable under re-encoding of the token.
func FuzzOAuthInitial(f *testing.F) {
	f.Add("n,,\x01auth=Bearer abc.def.ghi\x01\x01")
	f.Add("n,a=al=2Cice,\x01auth=bearer a-b_c\x01x=1\x01\x01")
	f.Add("y,,\x01auth=Bearer  t==\x01\x01")
	f.Add("n,a=,\x01auth=Bearer\x01\x01")
	f.Add("n,,\x01\x01\x01")
	f.Fuzz(func(t *testing.T, m string) {
		authzid, token, err := parseOAuthInitial(m)
		if err != nil {
			return
		}
		if !isB64Token(token) {
			t.Fatalf("accepted token %q", token)
		}
		again := "n,,\x01auth=Bearer " + token + "\x01\x01"
		if _, tok2, err := parseOAuthInitial(again); err != nil || tok2 != token {
			t.Fatalf("token %q does not round-trip: %q %v", token, tok2, err)
		}
		_ = authzid
	})
}
