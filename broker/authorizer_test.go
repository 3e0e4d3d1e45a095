package broker

import "testing"

// TestEveryAPIHasAuthzHook: with an authorizer, an API without a hook in authzHooks is
// refused to everyone but super users (fail closed). A new API in apiTable needs a hook
// that authorizes it the way Kafka's KafkaApis does (see the table in authorizer.go).
func TestEveryAPIHasAuthzHook(t *testing.T) {
	for _, e := range apiTable {
		if _, ok := authzHooks[e.key]; !ok {
			t.Errorf("%s (key %d) has no authorization hook in authorizer.go", e.key.Name(), e.key)
		}
	}
}
