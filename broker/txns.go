package broker

// Transactions (broker/txn), wired in: the coordinator keeps its log in
// <data-dir>/meta/txn, allocates producer ids from the producer-id manager, writes its
// markers into the partitions (partition.WriteTxnMarker, then a durability wait) and
// makes committed offsets visible through the group coordinator.
//
// A transactional produce is verified against the coordinator under the partition's write
// lock, just before the append (KIP-890 part 1; the coordinator's markers take the same
// lock, so none can come between): the partition must be in the producer's ongoing
// transaction
// (INVALID_TXN_STATE otherwise; INVALID_PRODUCER_EPOCH for an older epoch); a transactional
// batch in a request without a transactional id is TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
// as Kafka answers.

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/strata-io/strata/broker/group"
	"github.com/strata-io/strata/broker/txn"
	"github.com/strata-io/strata/partition"
	"github.com/strata-io/strata/segment"
)

func (b *Broker) openTxnCoordinator() error {
	ms := func(v int32) time.Duration { return time.Duration(v) * time.Millisecond }
	c, err := txn.New(txn.Config{
		Dir:             filepath.Join(b.metaDir(), "txn"),
		FS:              b.fs(),
		Logger:          b.logger,
		NextProducerID:  b.producerIDs.NextID,
		Markers:         txnMarkers{b},
		Offsets:         txnOffsets{b},
		PartitionExists: b.partitionExists,
		MaxTimeout:      ms(b.cfg.TransactionMaxTimeoutMs),
		IDExpiration:    ms(b.cfg.TransactionalIDExpirationMs),
		CheckInterval:   ms(b.cfg.TransactionAbortIntervalMs),
		AfterPrepare:    b.cfg.txnAfterPrepare,
	})
	if err != nil {
		return fmt.Errorf("cannot open transaction coordinator: %w", err)
	}
	b.txns = c
	for _, t := range b.allTopics() {
		for _, p := range t.partitions() {
			b.abortOrphanTxns(t.Name, p)
		}
	}
	return nil
}

// abortOrphanTxns writes an ABORT marker for every transaction open on p that the
// coordinator will never end: its log does not have the transaction with this partition
// (the coordinator's state was lost, or the partition was restored from the bucket with
// a producer snapshot taken while the transaction was open and the rest of it lost).
// Without it the partition's last stable offset would stay at the transaction's start and
// read_committed consumers would stop there. The coordinator adds a partition to a
// transaction durably before any of its data may be appended, so a transaction it knows
// is never aborted here.
func (b *Broker) abortOrphanTxns(topic string, p *partition.Partition) {
	for _, o := range p.OpenTxns() {
		if b.txns.Knows(o.ProducerID, txn.TP{Topic: topic, Partition: p.Index()}) {
			continue
		}
		end, err := p.WriteTxnMarker(o.ProducerID, o.Epoch, false, -1, time.Time{})
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			err = p.WaitDurable(ctx, end)
			cancel()
		}
		if err != nil {
			b.logger.Warn("cannot abort a transaction its coordinator does not know", "topic", topic, "partition", p.Index(),
				"producer_id", o.ProducerID, "first_offset", o.FirstOffset, "err", err)
			continue
		}
		b.logger.Warn("aborted a transaction its coordinator does not know", "topic", topic, "partition", p.Index(),
			"producer_id", o.ProducerID, "first_offset", o.FirstOffset)
	}
}

func (b *Broker) partitionExists(topic string, idx int32) bool {
	t := b.lookupTopic(topic)
	return t != nil && t.partition(idx) != nil
}

// txnMarkers writes transaction markers into the broker's partitions.
type txnMarkers struct{ b *Broker }

func (m txnMarkers) WriteMarkers(ctx context.Context, pid int64, epoch int16, commit bool, parts []txn.TP) error {
	type wait struct {
		p   *partition.Partition
		end int64
	}
	var waits []wait
	var errs []error
	now := time.Now()
	for _, tp := range parts {
		t := m.b.lookupTopic(tp.Topic)
		if t == nil {
			continue // deleted since it was added
		}
		p := t.partition(tp.Partition)
		if p == nil {
			continue
		}
		end, err := p.WriteTxnMarker(pid, epoch, commit, 0, now)
		if err != nil {
			if errors.Is(err, partition.ErrTxnState) {
				continue // a newer epoch already closed it
			}
			errs = append(errs, fmt.Errorf("%s-%d: %w", tp.Topic, tp.Partition, err))
			continue
		}
		waits = append(waits, wait{p, end})
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for _, w := range waits {
		if err := w.p.WaitDurable(wctx, w.end); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// txnOffsets makes a committed transaction's offsets visible.
type txnOffsets struct{ b *Broker }

func (o txnOffsets) CommitTxnOffsets(g string, offs []txn.Offset) error {
	conv := make([]group.TxnOffset, len(offs))
	for i, x := range offs {
		conv[i] = group.TxnOffset{Topic: x.Topic, Partition: x.Partition, Offset: x.Offset, LeaderEpoch: x.LeaderEpoch, Metadata: x.Metadata}
	}
	return o.b.groups.CommitTxnOffsets(g, conv)
}

// txnProduceCheck returns the check of a transactional batch that the partition runs
// under its write lock (partition.AppendChecked), nil for other batches.
func (b *Broker) txnProduceCheck(txnID *string, h segment.BatchHeader, topic string, idx int32) func() error {
	if !h.Transactional() {
		return nil
	}
	return func() error { return b.verifyTxnProduce(txnID, h, topic, idx) }
}

// verifyTxnProduce checks a transactional batch of a produce request against the
// transaction coordinator: it must come with the request's transactional id, in a
// transaction that added the partition.
func (b *Broker) verifyTxnProduce(txnID *string, h segment.BatchHeader, topic string, idx int32) error {
	if txnID == nil {
		// Kafka authorizes transactional records by the request's transactional id; there
		// is none to authorize.
		return fmt.Errorf("%w: transactional batch without a transactional id", kerr.TransactionalIDAuthorizationFailed)
	}
	if h.ProducerID < 0 {
		return fmt.Errorf("%w: transactional batch without a producer id", kerr.InvalidTxnState)
	}
	if err := b.txns.Verify(*txnID, h.ProducerID, h.ProducerEpoch, topic, idx); err != nil {
		return fmt.Errorf("%w: %s-%d is not in the ongoing transaction of %q", err, topic, idx, *txnID)
	}
	return nil
}
