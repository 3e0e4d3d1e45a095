package group

import (
	"context"
	"math/rand/v2"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// consumerLoop is a simplified classic consumer: join, sync (the leader assigns every
// member its own id), heartbeat, rejoin on REBALANCE_IN_PROGRESS, start over on
// UNKNOWN_MEMBER_ID/ILLEGAL_GENERATION/FENCED. It records the (generation, assignment)
// pairs it was given.
func consumerLoop(ctx context.Context, c *Coordinator, instance string, rng *rand.Rand, stable func(gen int32, member string)) {
	o := joinOpts{session: 3 * time.Second, rebalance: 4 * time.Second, instance: instance}
	member := ""
	for ctx.Err() == nil {
		o.memberID = member
		if instance != "" {
			o.memberID = ""
		}
		jr := c.JoinGroup(ctx, joinReq("churn", o), Client{ID: "c"})
		if jr.ErrorCode == kerr.MemberIDRequired.Code {
			member = jr.MemberID
			continue
		}
		if jr.ErrorCode != 0 {
			member = ""
			time.Sleep(50 * time.Millisecond)
			continue
		}
		member = jr.MemberID
		var assign map[string]string
		if jr.LeaderID == member {
			assign = map[string]string{}
			for _, m := range jr.Members {
				assign[m.MemberID] = m.MemberID
			}
		}
		sr := c.SyncGroup(ctx, syncReq("churn", member, jr.Generation, assign))
		if sr.ErrorCode != 0 {
			continue
		}
		if string(sr.MemberAssignment) != member {
			panic("member got someone else's assignment: " + string(sr.MemberAssignment) + " != " + member)
		}
		stable(jr.Generation, member)
		for ctx.Err() == nil {
			time.Sleep(time.Duration(200+rng.IntN(600)) * time.Millisecond)
			switch rng.IntN(40) {
			case 0: // crash: stop heartbeating for longer than the session
				time.Sleep(4 * time.Second)
			case 1: // leave
				l := kmsg.NewPtrLeaveGroupRequest()
				l.Version, l.Group = 5, "churn"
				l.Members = []kmsg.LeaveGroupRequestMember{{MemberID: member}}
				if instance != "" {
					l.Members[0].InstanceID = &instance
				}
				c.LeaveGroup(ctx, l)
				member = ""
			}
			if member == "" {
				break
			}
			code := heartbeat(c, "churn", member, jr.Generation, instance)
			if code == 0 {
				continue
			}
			if code != kerr.RebalanceInProgress.Code {
				member = ""
			}
			break
		}
	}
}

func TestChurnConverges(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		c := newTestCoordinator(t, NewMemStore(), Config{})
		ctx, cancel := context.WithCancel(t.Context())
		var mu sync.Mutex
		leaders := map[int32]int{} // generation -> members that reached Stable in it
		var wg sync.WaitGroup
		for i := 0; i < 6; i++ {
			instance := ""
			if i%2 == 0 {
				instance = "inst-" + string(rune('a'+i))
			}
			rng := rand.New(rand.NewPCG(uint64(i), 7))
			wg.Go(func() {
				consumerLoop(ctx, c, instance, rng, func(gen int32, _ string) {
					mu.Lock()
					leaders[gen]++
					mu.Unlock()
				})
			})
		}
		time.Sleep(2 * time.Minute)
		cancel()
		wg.Wait()
		d, _ := c.Describe("churn")
		if len(leaders) < 3 {
			t.Fatalf("only %d generations reached Stable", len(leaders))
		}
		for gen, n := range leaders {
			if n > 6 {
				t.Fatalf("generation %d had %d stable members, more than exist", gen, n)
			}
		}
		t.Logf("%d generations reached Stable; final generation %d state %v", len(leaders), d.Generation, d.State)
	})
}
