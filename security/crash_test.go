package security

import (
	"errors"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment/segmenttest"
)

var errInjected = errors.New("injected crash")

// crashAtEveryInstant runs change on a filesystem that fails every operation after the
// first n (a crash at that instant), for n = 0, 1, ... until change completes untouched,
// and hands check the filesystem that survives the crash and whether change reported
// success. So every prefix of the change's filesystem operations is tried.
func crashAtEveryInstant(t *testing.T, setup func(fs *segmenttest.MemFS), change func(fs *segmenttest.MemFS) error, check func(t *testing.T, after *segmenttest.MemFS, acked bool)) {
	t.Helper()
	for n := 0; ; n++ {
		fs := segmenttest.NewMemFS()
		if err := fs.MkdirAll("/data/meta", 0o755); err != nil {
			t.Fatal(err)
		}
		setup(fs)
		ops := 0
		fs.SetFault(func(op, name string) error {
			if ops++; ops > n {
				return errInjected
			}
			return nil
		})
		err := change(fs)
		faulted := ops > n
		fs.SetFault(nil)
		check(t, fs.Crash(), err == nil)
		if !faulted {
			if err != nil {
				t.Fatalf("change failed without a fault: %v", err)
			}
			if n < 4 {
				t.Fatalf("change completed after %d operations; expected a write, fsync, rename and directory fsync", n)
			}
			return
		}
	}
}

// TestSCRAMCredentialSurvivesCrash: a crash at any instant of a password change leaves
// the old or the new credential, and the new one once the change was acknowledged.
func TestSCRAMCredentialSurvivesCrash(t *testing.T) {
	crashAtEveryInstant(t,
		func(fs *segmenttest.MemFS) {
			s, err := OpenSCRAMStore(fs, "/data/meta", nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.SetPassword("alice", MechSCRAM512, "old-pw", MinIterations); err != nil {
				t.Fatal(err)
			}
		},
		func(fs *segmenttest.MemFS) error {
			s, err := OpenSCRAMStore(fs, "/data/meta", nil)
			if err != nil {
				return err
			}
			return s.SetPassword("alice", MechSCRAM512, "new-pw", MinIterations)
		},
		func(t *testing.T, after *segmenttest.MemFS, acked bool) {
			s, err := OpenSCRAMStore(after, "/data/meta", nil)
			if err != nil {
				t.Fatalf("credentials unreadable after a crash: %v", err)
			}
			oldOK, newOK := s.VerifyPassword("alice", "old-pw"), s.VerifyPassword("alice", "new-pw")
			switch {
			case acked && !newOK:
				t.Fatal("an acknowledged password change was lost")
			case !oldOK && !newOK:
				t.Fatal("neither the old nor the new credential survived")
			}
		})
}

// TestACLsSurviveCrash: the same for CreateAcls and DeleteAcls.
func TestACLsSurviveCrash(t *testing.T) {
	keep := ACL{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "keep", PatternType: kmsg.ACLResourcePatternTypeLiteral,
		Principal: "User:alice", Host: "*", Operation: kmsg.ACLOperationRead, Permission: kmsg.ACLPermissionTypeAllow}
	added := keep
	added.ResourceName = "added"
	has := func(a *Authorizer, name string) bool {
		return a.Authorize("User:alice", "h", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, name)
	}
	open := func(fs *segmenttest.MemFS) (*Authorizer, *ACLStore, error) {
		a := NewAuthorizer(nil, false)
		st, err := OpenACLStore(fs, "/data/meta", a, nil)
		return a, st, err
	}
	setup := func(fs *segmenttest.MemFS) {
		_, st, err := open(fs)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Create([]ACL{keep}); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("create", func(t *testing.T) {
		crashAtEveryInstant(t, setup,
			func(fs *segmenttest.MemFS) error {
				_, st, err := open(fs)
				if err != nil {
					return err
				}
				return st.Create([]ACL{added})
			},
			func(t *testing.T, after *segmenttest.MemFS, acked bool) {
				a, _, err := open(after)
				if err != nil {
					t.Fatalf("ACLs unreadable after a crash: %v", err)
				}
				if !has(a, "keep") {
					t.Fatal("an earlier ACL was lost")
				}
				if acked && !has(a, "added") {
					t.Fatal("an acknowledged ACL was lost")
				}
			})
	})
	t.Run("delete", func(t *testing.T) {
		name := "keep"
		crashAtEveryInstant(t, setup,
			func(fs *segmenttest.MemFS) error {
				_, st, err := open(fs)
				if err != nil {
					return err
				}
				_, err = st.Delete([]ACLFilter{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: &name,
					PatternType: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAny, Permission: kmsg.ACLPermissionTypeAny}})
				return err
			},
			func(t *testing.T, after *segmenttest.MemFS, acked bool) {
				a, _, err := open(after)
				if err != nil {
					t.Fatalf("ACLs unreadable after a crash: %v", err)
				}
				if acked && has(a, "keep") {
					t.Fatal("an acknowledged ACL deletion was undone")
				}
			})
	})
}
