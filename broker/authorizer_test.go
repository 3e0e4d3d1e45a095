package broker

import "testing"

// TestEveryAPIHasAuthzHook: with an authorizer, an API without an authz hook is refused
// to everyone but super users (fail closed). A new API's entry needs a hook that
// authorizes it the way Kafka's KafkaApis does (see the table in authorizer.go).
func TestEveryAPIHasAuthzHook(t *testing.T) {
	for _, e := range apiTable() {
		if e.authz == nil {
			t.Errorf("%s (key %d) has no authorization hook in its entry", e.key.Name(), e.key)
		}
	}
}
