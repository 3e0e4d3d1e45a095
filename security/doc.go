// Package security holds Strata's authentication and authorization, apart from the Kafka
// protocol that carries them: the SCRAM credential store and server (RFC 5802, KIP-554),
// SASL/PLAIN checked against those credentials, SASL/OAUTHBEARER with JWT validation
// against a JSON Web Key Set (oauth.go, oauthsasl.go; KIP-255, KIP-768), the TLS material of SSL listeners with
// reload and principal mapping, the ACL authorizer (Kafka's StandardAuthorizer rules) and
// its persistent store, and the security metrics.
//
// The broker calls it through a few types: SCRAMStore (Lookup, VerifyPassword, Alter,
// Describe), NewSCRAMServer / NewPlainServer / NewOAuthBearerServer for one exchange (each
// with Step, User and Expiry), OAuthValidator (Validate, Run), AuthenticatePlain,
// TLSProvider (Config, PrincipalFor), Authorizer (Authorize, AuthorizeAny, ACLs) with
// ACLStore (Create, Delete), and Metrics. Which API needs which operation, per-connection
// state and the SASL frames stay in the broker (authorizer.go, sasl.go).
//
// # Files
//
// Both files live in <data-dir>/meta and are replaced through segment.WriteFileAtomic
// (write name.tmp, fsync, rename, fsync the directory) on the broker's filesystem seam,
// so a crash at any instant leaves the old or the new file and an acknowledged change
// survives (crash_test.go runs every prefix of a change on segmenttest.MemFS).
//
// scram-credentials.json, mode 0600: salt, iteration count and the derived StoredKey and
// ServerKey per user and mechanism, never a password:
//
//	{"version":1,"users":{"alice":{"SCRAM-SHA-512":{"salt":"<b64>","iterations":8192,
//	  "stored_key":"<b64>","server_key":"<b64>"}}}}
//
// acls.json, mode 0644, with Kafka's numeric codes (see acl.go):
//
//	{"version":1,"acls":[{"resource_type":2,"resource_name":"orders","pattern_type":3,
//	  "principal":"User:alice","host":"*","operation":3,"permission":3}, ...]}
//
// A reader refuses any other version. The broker mirrors both files to the bucket's
// _security/ prefix after each change (the onSave callbacks) so that a restore keeps who
// may log in and what they may do.
package security
