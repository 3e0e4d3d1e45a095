package security

import "testing"

// storeWithUser is an in-memory store (never written) holding one credential.
func storeWithUser(user, mech string, salt []byte, password string) *SCRAMStore {
	s := &SCRAMStore{users: map[string]map[string]SCRAMCredential{}}
	s.users[user] = map[string]SCRAMCredential{mech: CredentialFromSalted(mech, salt, SaltedPassword(mech, password, salt, 4096), 4096)}
	return s
}

func TestSCRAMConversationRejects(t *testing.T) {
	s := storeWithUser("bob", MechSCRAM256, []byte("salt-salt-salt"), "pw")
	f := func(first, final string) {
		t.Helper()
		c := NewSCRAMServer(s, MechSCRAM256)
		if _, err := c.first(first); err != nil {
			return
		}
		if _, err := c.final(final); err == nil {
			t.Errorf("first %q final %q accepted", first, final)
		}
	}
	f("n,,n=mallory,r=abc", "")
	f("p=tls-unique,,n=bob,r=abc", "")
	f("n,a=alice,n=bob,r=abc", "")
	f("n,,n=bob,r=abc", "c=biws,r=abc,p=AAAA")
	f("n,,n=bob,r=abc", "c=biws,r=xyz,p=AAAA")
	f("n,,n=bob,r=abc", "garbage")
}
