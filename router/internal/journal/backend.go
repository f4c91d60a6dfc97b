package journal

import "time"

// The router's durable log has two backends: this package's local Journal
// (the embedded default) and Kafka (journal/kafkalog), where router
// replicas share one log. Ingest only appends; delivery and subscriptions
// read the local journal by sequence number and Kafka through consumer
// groups, so the interfaces below are what both backends have in common.

// Batch is one ingest batch: the records of one sender, in order.
type Batch struct {
	// Key names the sender (the sensor's identity): Kafka keeps the
	// records of one key in order on one partition.
	Key string
	// IDs holds the alert id of each record (same length as Recs, or
	// empty when unknown); Kafka carries it in a record header.
	IDs  []string
	Recs [][]byte
	// Ack is when the local journal answers (written or fsynced); Kafka
	// always answers once every in-sync replica has the batch.
	Ack Ack
}

// Appender stores batches durably. The channel yields the Result once the
// batch is durable (on disk, or acknowledged by every in-sync Kafka
// replica); only then may the sender be acknowledged.
type Appender interface {
	AppendBatch(b Batch) (<-chan Result, error)
}

// IDUser is an Appender that says whether it uses Batch.IDs; senders skip
// computing them (a string per alert) for one that does not. An Appender
// that is not an IDUser gets them.
type IDUser interface {
	UsesIDs() bool
}

// UsesIDs is false: each local record carries its alert id inside.
func (j *Journal) UsesIDs() bool { return false }

// AppendBatch is AppendAsync for the Appender interface: the local journal
// is ordered as a whole, so the key and ids are not stored apart from the
// records (each record carries its alert id).
func (j *Journal) AppendBatch(b Batch) (<-chan Result, error) {
	return j.AppendAsyncAck(b.Recs, b.Ack)
}

// Record is one record read from a shared log (Kafka): where it is, when it
// was stored and its payload.
type Record struct {
	Partition int32
	Offset    int64
	Stored    time.Time
	ID        string // the alert id header
	Data      []byte
}
