package jvm

import (
	"regexp"
	"slices"
	"testing"
)

// txnNumbersRe matches the numbers of kafka-transactions' tables that differ run to run
// (producer ids, epochs, timestamps, durations, offsets of the open transaction).
var txnNumbersRe = regexp.MustCompile(`\b[0-9]{2,}\b`)

// normTxn squeezes a kafka-transactions table and hides its run-dependent numbers.
func normTxn(s string) string { return txnNumbersRe.ReplaceAllString(normTable(s), "N") }

// txnJourney is the kafka-transactions journey over an open transaction (txn-open left
// transactional id txn-journey-open Ongoing with three records in txn-journey-0). Kafka's
// abort writes the marker to the partition only: the coordinator still lists the
// transaction Ongoing afterwards (until the producer or the timeout ends it).
func txnJourney() []step {
	bs := []string{"--bootstrap-server", "{bs}"}
	tx := func(a ...string) []string { return append(slices.Clone(bs), a...) }
	return []step{
		{name: "transactions-list", tool: "kafka-transactions", args: tx("list"), norm: normTxn, want: "TransactionalId Coordinator ProducerId TransactionState\ntxn-journey-open 0 0 Ongoing\n"},
		{name: "transactions-describe", tool: "kafka-transactions", args: tx("describe", "--transactional-id", "txn-journey-open"), norm: normTxn,
			want: "CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions\n0 txn-journey-open 0 0 Ongoing N N N txn-journey-0\n"},
		{name: "transactions-describe-missing", tool: "kafka-transactions", args: tx("describe", "--transactional-id", "nosuch"), want: "", code: 1,
			errHas: "Failed to describe transaction state of transactional-id `nosuch`: DescribeTransactions request for transactionalId `nosuch` failed because the ID could not be found."},
		{name: "transactions-describe-producers", tool: "kafka-transactions", args: tx("describe-producers", "--topic", "txn-journey", "--partition", "0"), norm: normTxn,
			want: "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset\n0 0 -1 2 N 0\n"},
		{name: "transactions-find-hanging", tool: "kafka-transactions", args: tx("--command-config", "{dir}/admin.properties", "find-hanging", "--broker-id", "0", "--max-transaction-timeout", "0"),
			files: map[string]string{"admin.properties": "default.api.timeout.ms=10000\nrequest.timeout.ms=5000\n"}, norm: normTxn,
			want: "Topic Partition ProducerId ProducerEpoch CoordinatorEpoch StartOffset LastTimestamp Duration(min)\n"},
		{name: "transactions-abort", tool: "kafka-transactions", args: tx("abort", "--topic", "txn-journey", "--partition", "0", "--start-offset", "0"), want: "",
			strata: &difference{want: "", code: 1,
				why: "abort writes the abort marker with WriteTxnMarkers, a broker-to-broker RPC Strata does not serve (its coordinator writes markers inside the broker): the tool fails with \"The node does not support WRITE_TXN_MARKERS\" and the transaction stays open until its timeout aborts it"}},
		{name: "transactions-describe-producers-after-abort", tool: "kafka-transactions", args: tx("describe-producers", "--topic", "txn-journey", "--partition", "0"), norm: normTxn,
			want:   "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset\n0 0 0 2 N None\n",
			strata: &difference{want: "ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset\n0 0 -1 2 N 0\n", why: "the abort failed (above): the transaction is still open in the partition"}},
		{name: "transactions-list-after-abort", tool: "kafka-transactions", args: tx("list"), norm: normTxn, want: "TransactionalId Coordinator ProducerId TransactionState\ntxn-journey-open 0 0 Ongoing\n"},
	}
}

// txnSetup creates the topic and leaves a transaction open on it.
func txnSetup(t *testing.T, addr string) {
	t.Helper()
	createTopic(t, addr, "txn-journey", 1, nil)
	scenario(t, nil, "txn-open", addr, "txn-journey", "txn-journey-open")
}

// TestKafkaTransactionsTool runs kafka-transactions against Strata.
func TestKafkaTransactionsTool(t *testing.T) {
	t.Parallel()
	t.Logf("client: Apache Kafka %s kafka-transactions (list, describe, describe-producers, find-hanging, abort)", kafkaVersion)
	s := startStrata(t, nil, nil)
	txnSetup(t, s.addr())
	runJourney(t, s.addr(), txnJourney(), false)
}

// TestKafkaTransactionsToolReference runs the same journey against Apache Kafka.
func TestKafkaTransactionsToolReference(t *testing.T) {
	if !referenceWanted() {
		t.Skip("STRATA_KAFKA_REFERENCE=1 (make compat-jvm) runs Apache Kafka beside Strata")
	}
	t.Parallel()
	t.Logf("client: Apache Kafka %s kafka-transactions, against Apache Kafka %s itself", kafkaVersion, kafkaVersion)
	addr := startKafka(t, nil)["PLAINTEXT"]
	txnSetup(t, addr)
	runJourney(t, addr, txnJourney(), true)
}
