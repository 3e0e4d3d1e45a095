package broker

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/security"
	"github.com/strata-io/strata/tiering/memstore"
)

// TestSecurityRestoredFromBucket: users and ACLs written on one broker come back on a
// broker started on an empty data dir over the same bucket.
func TestSecurityRestoredFromBucket(t *testing.T) {
	store := memstore.New()
	open := func(dir string) *Broker {
		cfg, err := ParseConfig(map[string]string{"listeners": "SASL_PLAINTEXT://127.0.0.1:0", "log.dirs": dir,
			"authorizer.class.name": "strata", "remote.log.prefix": "cluster-a", "super.users": "User:root"})
		if err != nil {
			t.Fatal(err)
		}
		cfg.RemoteStore = store
		b, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := open(t.TempDir())
	ctx := context.Background()
	super := withConnState(ctx, &connState{principal: "User:root"})

	alter := kmsg.NewPtrAlterUserSCRAMCredentialsRequest()
	salt := []byte("bucket-salt-1234")
	alter.Upsertions = []kmsg.AlterUserSCRAMCredentialsRequestUpsertion{{Name: "alice", Mechanism: 2, Iterations: 4096,
		Salt: salt, SaltedPassword: security.SaltedPassword(security.MechSCRAM512, "pw-in-bucket", salt, 4096)}}
	if r, _ := b.handleAlterUserScramCredentials(super, alter); r.(*kmsg.AlterUserSCRAMCredentialsResponse).Results[0].ErrorCode != 0 {
		t.Fatalf("alter: %+v", r)
	}
	create := kmsg.NewPtrCreateACLsRequest()
	create.Creations = []kmsg.CreateACLsRequestCreation{{ResourceType: kmsg.ACLResourceTypeTopic, ResourceName: "t",
		ResourcePatternType: kmsg.ACLResourcePatternTypeLiteral, Principal: "User:alice", Host: "*",
		Operation: kmsg.ACLOperationRead, PermissionType: kmsg.ACLPermissionTypeAllow}}
	if r, _ := b.handleCreateAcls(super, create); r.(*kmsg.CreateACLsResponse).Results[0].ErrorCode != 0 {
		t.Fatalf("create acls: %+v", r)
	}
	b.Close()

	rc, err := store.GetRange(ctx, "cluster-a/_security/"+security.SCRAMFileName, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(rc)
	rc.Close()
	if strings.Contains(string(data), "pw-in-bucket") || !strings.Contains(string(data), "alice") {
		t.Fatalf("bucket copy: %s", data)
	}

	b2 := open(t.TempDir())
	defer b2.Close()
	if !b2.scram.VerifyPassword("alice", "pw-in-bucket") || b2.scram.VerifyPassword("alice", "other") {
		t.Fatal("restored credential does not verify")
	}
	if !b2.authz.Authorize("User:alice", "h", kmsg.ACLOperationRead, kmsg.ACLResourceTypeTopic, "t") {
		t.Fatal("restored ACL missing")
	}
}
