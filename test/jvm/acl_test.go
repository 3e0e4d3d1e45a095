package jvm

import (
	"slices"
	"strings"
	"testing"
)

// aclJourney: SCRAM users made with kafka-configs on the PLAINTEXT listener (whose
// ANONYMOUS principal is a super user here), then kafka-acls on the SASL_PLAINTEXT
// listener as the super user admin, and alice's console producer and consumer allowed
// and refused by those ACLs.
func aclJourney() []step {
	adminCfg := map[string]string{"admin.properties": saslProps("admin", "admin-secret"),
		"alice.properties": saslProps("alice", "alice-secret"), "wrong.properties": saslProps("alice", "not-her-password")}
	return []step{
		{name: "configs-add-scram-both-mechanisms", tool: "kafka-configs", files: adminCfg, args: []string{"--bootstrap-server", "{bs}", "--alter",
			"--add-config", "SCRAM-SHA-256=[iterations=8192,password=other-secret],SCRAM-SHA-512=[password=other-secret]",
			"--entity-type", "users", "--entity-name", "other"},
			want: "", code: 1, errHas: "DuplicateResourceException: A user credential cannot be altered twice in the same request\n",
			strata: &difference{want: "Completed updating config for user other.\n",
				why: "AlterUserScramCredentials: Strata accepts both mechanisms of one user in one request (the same user and mechanism twice is refused as in Kafka); Kafka refuses any user named twice with DUPLICATE_RESOURCE"}},
		{name: "configs-add-scram", tool: "kafka-configs", args: []string{"--bootstrap-server", "{bs}", "--alter",
			"--add-config", "SCRAM-SHA-256=[iterations=8192,password=admin-secret]", "--entity-type", "users", "--entity-name", "admin"},
			want: "Completed updating config for user admin.\n"},
		{name: "configs-add-scram-512", tool: "kafka-configs", args: []string{"--bootstrap-server", "{bs}", "--alter",
			"--add-config", "SCRAM-SHA-512=[password=admin-secret]", "--entity-type", "users", "--entity-name", "admin"},
			want: "Completed updating config for user admin.\n"},
		{name: "configs-add-scram-alice", tool: "kafka-configs", args: []string{"--bootstrap-server", "{bs}", "--alter",
			"--add-config", "SCRAM-SHA-256=[iterations=8192,password=alice-secret]", "--entity-type", "users", "--entity-name", "alice"},
			want: "Completed updating config for user alice.\n"},
		{name: "configs-describe-scram", tool: "kafka-configs", args: []string{"--bootstrap-server", "{bs}", "--describe",
			"--entity-type", "users", "--entity-name", "admin"},
			norm: sortCredentials,
			want: "SCRAM credential configs for user-principal 'admin' are SCRAM-SHA-256=iterations=8192, SCRAM-SHA-512=iterations=4096\n"},
		{name: "topics-create", tool: "kafka-topics", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--create", "--topic", "acl-t", "--partitions", "1"},
			want: "Created topic acl-t.\n"},
		{name: "acls-add-write", tool: "kafka-acls", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--add", "--allow-principal", "User:alice", "--operation", "Write", "--operation", "Describe", "--topic", "acl-t"},
			norm: sortedTable,
			want: "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)\n" +
				"(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)\n" +
				"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-t, patternType=LITERAL)`:\n"},
		{name: "acls-list", tool: "kafka-acls", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--list", "--topic", "acl-t"},
			norm: sortedTable,
			want: "(principal=User:alice, host=*, operation=DESCRIBE, permissionType=ALLOW)\n" +
				"(principal=User:alice, host=*, operation=WRITE, permissionType=ALLOW)\n" +
				"Current ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-t, patternType=LITERAL)`:\n"},
		{name: "alice-produce", tool: "kafka-console-producer", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/alice.properties",
			"--topic", "acl-t"}, stdin: "one\ntwo\n", want: ""},
		{name: "alice-consume-refused", tool: "kafka-console-consumer", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/alice.properties",
			"--topic", "acl-t", "--from-beginning", "--group", "alice-g", "--max-messages", "2", "--timeout-ms", "20000"},
			want: "", errHas: "GroupAuthorizationException: Not authorized to access group: alice-g\n"},
		{name: "acls-add-read", tool: "kafka-acls", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--add", "--allow-principal", "User:alice", "--operation", "Read", "--topic", "acl-t", "--group", "alice-g"},
			norm: func(s string) string { return sortLines(onlyLines("Adding ACLs")(s)) },
			want: "Adding ACLs for resource `ResourcePattern(resourceType=GROUP, name=alice-g, patternType=LITERAL)`: \n" +
				"Adding ACLs for resource `ResourcePattern(resourceType=TOPIC, name=acl-t, patternType=LITERAL)`: \n"},
		{name: "alice-consume", tool: "kafka-console-consumer", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/alice.properties",
			"--topic", "acl-t", "--from-beginning", "--group", "alice-g", "--max-messages", "2", "--timeout-ms", "30000"},
			want: "one\ntwo\n", errHas: "Processed a total of 2 messages"},
		{name: "wrong-password", tool: "kafka-topics", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/wrong.properties", "--list"},
			want: "Error while executing topic command : Authentication failed during authentication due to invalid credentials with SASL mechanism SCRAM-SHA-256\n", code: 1},
		{name: "acls-remove", tool: "kafka-acls", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--remove", "--force", "--topic", "acl-t"}, want: "\n", norm: onlyLines("ACLs for resource")},
		{name: "acls-list-empty", tool: "kafka-acls", args: []string{"--bootstrap-server", "{sasl}", "--command-config", "{dir}/admin.properties",
			"--list", "--topic", "acl-t"}, norm: normTable, want: "\n"},
	}
}

// sortedTable is normTable with its lines sorted: kafka-acls prints ACLs and resources in
// hash-set order, which differs between JVM runs.
func sortedTable(s string) string { return sortLines(normTable(s)) }

// sortCredentials sorts the list after " are " of kafka-configs' SCRAM description (Kafka
// lists the mechanisms in hash-map order).
func sortCredentials(s string) string {
	head, list, ok := strings.Cut(strings.TrimRight(s, "\n"), " are ")
	if !ok {
		return s
	}
	items := strings.Split(list, ", ")
	slices.Sort(items)
	return head + " are " + strings.Join(items, ", ") + "\n"
}

func saslProps(user, password string) string {
	return "security.protocol=SASL_PLAINTEXT\nsasl.mechanism=SCRAM-SHA-256\n" +
		`sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="` + user + `" password="` + password + "\";\n"
}

// TestKafkaToolsACL runs kafka-configs (SCRAM users), kafka-acls and the console clients
// over SASL_PLAINTEXT with SCRAM-SHA-256 against Strata with ACL authorization.
func TestKafkaToolsACL(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s kafka-configs (SCRAM users), kafka-acls, console producer/consumer over SASL_PLAINTEXT SCRAM-SHA-256", kafkaVersion)
	s := startStrata(t, aclAuthorizer, nil, "PLAINTEXT", "SASL_PLAINTEXT")
	runJourneyVars(t, map[string]string{"{bs}": s.addr(), "{sasl}": s.listeners["SASL_PLAINTEXT"]}, aclJourney(), false)
}

// aclAuthorizer is the ACL configuration of both brokers of the ACL journey.
var aclAuthorizer = map[string]string{
	"authorizer.class.name": "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
	"super.users":           "User:admin;User:ANONYMOUS",
}

// TestKafkaToolsACLReference runs the ACL journey against Apache Kafka (make compat-jvm).
func TestKafkaToolsACLReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s kafka-configs, kafka-acls and console clients over SCRAM, against Apache Kafka %s itself (the reference)", kafkaVersion, kafkaVersion)
	k := startKafka(t, aclAuthorizer)
	runJourneyVars(t, map[string]string{"{bs}": k["PLAINTEXT"], "{sasl}": k["SASL_PLAINTEXT"]}, aclJourney(), true)
}
