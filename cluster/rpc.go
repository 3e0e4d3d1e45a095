package cluster

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// The controller RPC lets a broker reach the active controller from any node. It shares
// the controller listener with Raft (transport.go). Wire format, after the rpcMagic byte
// that opens the connection, a sequence of request/response frames:
//
//	uint32 big-endian length, then that many bytes of JSON
//	request:  {"op": "<operation>", "body": <operation's request>}
//	response: {"err": {"code", "msg", "leaderId", "leaderAddr"} or absent, "body": <result>}
//
// Codes are Kafka's error names (STALE_BROKER_EPOCH ...), plus NOT_CONTROLLER with the
// leader the caller should retry on. The broker-facing Kafka APIs (BrokerRegistration,
// BrokerHeartbeat, AlterPartition, AllocateProducerIds) can replace it later; the
// Controller interface stays the same.

const maxRPCFrame = 64 << 20

type rpcRequest struct {
	Op   string          `json:"op"`
	Body json.RawMessage `json:"body"`
}

type rpcResponse struct {
	Err  *wireError      `json:"err,omitempty"`
	Body json.RawMessage `json:"body,omitempty"`
}

type wireError struct {
	Code       string `json:"code"`
	Msg        string `json:"msg"`
	LeaderID   int32  `json:"leaderId,omitempty"`
	LeaderAddr string `json:"leaderAddr,omitempty"`
}

var errorCodes = []struct {
	err  error
	code string
}{
	{ErrStaleBrokerEpoch, "STALE_BROKER_EPOCH"},
	{ErrTopicExists, "TOPIC_ALREADY_EXISTS"},
	{ErrInvalidTopic, "INVALID_TOPIC_EXCEPTION"},
	{ErrInvalidPartitions, "INVALID_PARTITIONS"},
	{ErrInvalidReplicationFactor, "INVALID_REPLICATION_FACTOR"},
	{ErrInvalidReplicaAssignment, "INVALID_REPLICA_ASSIGNMENT"},
	{ErrUnknownTopicOrPartition, "UNKNOWN_TOPIC_OR_PARTITION"},
	{ErrNotLeaderOrFollower, "NOT_LEADER_OR_FOLLOWER"},
	{ErrFencedLeaderEpoch, "FENCED_LEADER_EPOCH"},
	{ErrInvalidUpdateVersion, "INVALID_UPDATE_VERSION"},
	{ErrIneligibleReplica, "INELIGIBLE_REPLICA"},
	{ErrElectionNotNeeded, "ELECTION_NOT_NEEDED"},
	{ErrPreferredLeaderNotAvailable, "PREFERRED_LEADER_NOT_AVAILABLE"},
	{ErrEligibleLeadersNotAvailable, "ELIGIBLE_LEADERS_NOT_AVAILABLE"},
	{ErrInvalidRequest, "INVALID_REQUEST"},
	{ErrBadRecord, "INVALID_REQUEST"},
	{context.DeadlineExceeded, "REQUEST_TIMED_OUT"},
	{context.Canceled, "REQUEST_TIMED_OUT"},
}

func toWire(err error) *wireError {
	if err == nil {
		return nil
	}
	var nc *NotControllerError
	if errors.As(err, &nc) {
		return &wireError{Code: "NOT_CONTROLLER", Msg: err.Error(), LeaderID: nc.LeaderID, LeaderAddr: nc.LeaderAddr}
	}
	for _, ec := range errorCodes {
		if errors.Is(err, ec.err) {
			return &wireError{Code: ec.code, Msg: err.Error()}
		}
	}
	return &wireError{Code: "UNKNOWN_SERVER_ERROR", Msg: err.Error()}
}

// remoteError is an error the controller returned; it matches the same sentinel.
type remoteError struct {
	msg      string
	sentinel error
}

func (e *remoteError) Error() string { return e.msg }
func (e *remoteError) Unwrap() error { return e.sentinel }

func fromWire(w *wireError) error {
	if w == nil {
		return nil
	}
	if w.Code == "NOT_CONTROLLER" {
		id := w.LeaderID
		if w.LeaderAddr == "" {
			id = -1
		}
		return &NotControllerError{LeaderID: id, LeaderAddr: w.LeaderAddr}
	}
	for _, ec := range errorCodes {
		if ec.code == w.Code {
			return &remoteError{msg: w.Msg, sentinel: ec.err}
		}
	}
	return errors.New(w.Msg)
}

func writeFrame(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	var hdr [4]byte
	binary.BigEndian.PutUint32(hdr[:], uint32(len(b)))
	_, err = w.Write(append(hdr[:], b...))
	return err
}

func readFrame(r io.Reader, v any) error {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxRPCFrame {
		return fmt.Errorf("controller rpc: frame of %d bytes exceeds %d", n, maxRPCFrame)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

type watchRequest struct {
	After  uint64 `json:"after"`
	WaitMs int64  `json:"waitMs"`
}

type createPartitionsRequest struct {
	Topic       string    `json:"topic"`
	Total       int32     `json:"total"`
	Assignments [][]int32 `json:"assignments,omitempty"`
}

type alterConfigsRequest struct {
	Topic   string             `json:"topic"`
	Configs map[string]*string `json:"configs"`
}

type electRequest struct {
	Type       ElectionType     `json:"type"`
	Partitions []TopicPartition `json:"partitions"` // null: all
}

type electResult struct {
	TopicPartition
	Err *wireError `json:"err,omitempty"`
}

type leaderInfo struct {
	ID   int32  `json:"id"`
	Addr string `json:"addr"`
}

type producerIDsRequest struct {
	NodeID      int32 `json:"nodeId"`
	BrokerEpoch int64 `json:"brokerEpoch"`
}

type wireCreateResult struct {
	Name string     `json:"name"`
	ID   TopicID    `json:"id"`
	Err  *wireError `json:"err,omitempty"`
}

// serveRPC answers controller RPCs on one connection until it closes or ctx ends.
func (n *Node) serveRPC(ctx context.Context, c net.Conn) {
	for ctx.Err() == nil {
		c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		var req rpcRequest
		if err := readFrame(c, &req); err != nil {
			return
		}
		body, err := n.dispatchRPC(ctx, req)
		resp := rpcResponse{Err: toWire(err)}
		if body != nil {
			if resp.Body, err = json.Marshal(body); err != nil {
				resp = rpcResponse{Err: toWire(err)}
			}
		}
		c.SetWriteDeadline(time.Now().Add(30 * time.Second))
		if writeFrame(c, resp) != nil {
			return
		}
	}
}

func decodeBody[T any](raw json.RawMessage) (T, error) {
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		return v, fmt.Errorf("%w: %v", ErrInvalidRequest, err)
	}
	return v, nil
}

func (n *Node) dispatchRPC(ctx context.Context, req rpcRequest) (any, error) {
	switch req.Op {
	case "register":
		r, err := decodeBody[BrokerRegistration](req.Body)
		if err != nil {
			return nil, err
		}
		e, err := n.RegisterBroker(ctx, r)
		return e, err
	case "heartbeat":
		r, err := decodeBody[HeartbeatRequest](req.Body)
		if err != nil {
			return nil, err
		}
		resp, err := n.Heartbeat(ctx, r)
		return resp, err
	case "createTopics":
		r, err := decodeBody[[]TopicSpec](req.Body)
		if err != nil {
			return nil, err
		}
		res, err := n.CreateTopics(ctx, r)
		if err != nil {
			return nil, err
		}
		out := make([]wireCreateResult, len(res))
		for i, x := range res {
			out[i] = wireCreateResult{Name: x.Name, ID: x.ID, Err: toWire(x.Err)}
		}
		return out, nil
	case "deleteTopics":
		r, err := decodeBody[[]string](req.Body)
		if err != nil {
			return nil, err
		}
		res, err := n.DeleteTopics(ctx, r)
		if err != nil {
			return nil, err
		}
		out := map[string]*wireError{}
		for k, e := range res {
			out[k] = toWire(e)
		}
		return out, nil
	case "createPartitions":
		r, err := decodeBody[createPartitionsRequest](req.Body)
		if err != nil {
			return nil, err
		}
		return nil, n.CreatePartitions(ctx, r.Topic, r.Total, r.Assignments)
	case "alterTopicConfigs":
		r, err := decodeBody[alterConfigsRequest](req.Body)
		if err != nil {
			return nil, err
		}
		return nil, n.AlterTopicConfigs(ctx, r.Topic, r.Configs)
	case "electLeaders":
		r, err := decodeBody[electRequest](req.Body)
		if err != nil {
			return nil, err
		}
		res, err := n.ElectLeaders(ctx, r.Type, r.Partitions)
		if err != nil {
			return nil, err
		}
		out := make([]electResult, 0, len(res))
		for tp, e := range res {
			out = append(out, electResult{TopicPartition: tp, Err: toWire(e)})
		}
		return out, nil
	case "alterPartition":
		r, err := decodeBody[AlterPartitionRequest](req.Body)
		if err != nil {
			return nil, err
		}
		p, err := n.AlterPartition(ctx, r)
		if err != nil {
			return nil, err
		}
		return p, nil
	case "allocateProducerIds":
		r, err := decodeBody[producerIDsRequest](req.Body)
		if err != nil {
			return nil, err
		}
		b, err := n.AllocateProducerIDs(ctx, r.NodeID, r.BrokerEpoch)
		return b, err
	case "alterAcls":
		r, err := decodeBody[[]ACLRecord](req.Body)
		if err != nil {
			return nil, err
		}
		return nil, n.AlterACLs(ctx, r)
	case "alterScram":
		r, err := decodeBody[[]SCRAMRecord](req.Body)
		if err != nil {
			return nil, err
		}
		return nil, n.AlterSCRAM(ctx, r)
	case "leader":
		id, addr := n.Leader()
		return leaderInfo{ID: id, Addr: addr}, nil
	case "watch":
		r, err := decodeBody[watchRequest](req.Body)
		if err != nil {
			return nil, err
		}
		wctx, cancel := context.WithTimeout(ctx, time.Duration(min(max(r.WaitMs, 0), 60_000))*time.Millisecond)
		defer cancel()
		im, err := n.Watch(wctx, r.After)
		if err != nil {
			im = n.Image() // no change within the wait: answer the current image
		}
		var buf bytes.Buffer
		if err := WriteSnapshot(&buf, im); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}
	return nil, fmt.Errorf("%w: unknown controller operation %q", ErrInvalidRequest, req.Op)
}

// Client is a broker's Controller on another process: it sends each call to the active
// controller, following NOT_CONTROLLER hints and trying every address in turn, and
// retries with backoff until the call's ctx ends. Writes are conditional, so a retry
// after a lost answer is safe. The image it returns is the newest one Watch fetched.
type Client struct {
	addrs []string
	mu    sync.Mutex
	hint  string // the leader's address, as last reported
	image atomic.Pointer[Image]
}

var _ Controller = (*Client)(nil)

// NewClient returns a client for the controllers at addrs (controller.quorum.voters'
// addresses or controller.quorum.bootstrap.servers).
func NewClient(addrs []string) *Client {
	c := &Client{addrs: append([]string(nil), addrs...)}
	c.image.Store(NewImage())
	return c
}

// roundTrip sends one request to addr and decodes the response body into out.
func roundTrip(ctx context.Context, addr, op string, in, out any) error {
	d := net.Dialer{Timeout: 3 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Now()) })
	defer stop()
	body, err := json.Marshal(in)
	if err != nil {
		return err
	}
	if _, err := conn.Write([]byte{rpcMagic}); err != nil {
		return err
	}
	if err := writeFrame(conn, rpcRequest{Op: op, Body: body}); err != nil {
		return err
	}
	var resp rpcResponse
	if err := readFrame(conn, &resp); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if resp.Err != nil {
		return fromWire(resp.Err)
	}
	if out != nil && len(resp.Body) > 0 {
		return json.Unmarshal(resp.Body, out)
	}
	return nil
}

// retriable reports whether another controller address may answer: this one is not
// the controller (or not yet ready) or could not be reached.
func retriable(err error) bool {
	var ne net.Error
	return errors.Is(err, ErrNotController) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed)
}

func (c *Client) call(ctx context.Context, op string, in, out any) error {
	backoff := 20 * time.Millisecond
	var last error
	for {
		c.mu.Lock()
		targets := append([]string{c.hint}, c.addrs...)
		c.mu.Unlock()
		for _, addr := range targets {
			if addr == "" {
				continue
			}
			err := c.try(ctx, addr, op, in, out)
			if err == nil {
				return nil
			}
			if ctx.Err() != nil {
				return fmt.Errorf("controller %s: %w (last error: %v)", op, ctx.Err(), err)
			}
			if !retriable(err) {
				return err
			}
			last = err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("controller %s: %w (last error: %v)", op, ctx.Err(), last)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 500*time.Millisecond)
	}
}

// try calls addr and, when it names another leader, that leader; it remembers the
// address that answered.
func (c *Client) try(ctx context.Context, addr, op string, in, out any) error {
	err := roundTrip(ctx, addr, op, in, out)
	var nc *NotControllerError
	if errors.As(err, &nc) && nc.LeaderAddr != "" && nc.LeaderAddr != addr {
		addr = nc.LeaderAddr
		err = roundTrip(ctx, addr, op, in, out)
	}
	if err == nil {
		c.mu.Lock()
		c.hint = addr
		c.mu.Unlock()
	}
	return err
}

// RegisterBroker implements Controller.
func (c *Client) RegisterBroker(ctx context.Context, reg BrokerRegistration) (int64, error) {
	var e int64
	err := c.call(ctx, "register", reg, &e)
	return e, err
}

// Heartbeat implements Controller.
func (c *Client) Heartbeat(ctx context.Context, req HeartbeatRequest) (HeartbeatResponse, error) {
	var resp HeartbeatResponse
	err := c.call(ctx, "heartbeat", req, &resp)
	return resp, err
}

// CreateTopics implements Controller.
func (c *Client) CreateTopics(ctx context.Context, specs []TopicSpec) ([]CreateTopicResult, error) {
	var w []wireCreateResult
	if err := c.call(ctx, "createTopics", specs, &w); err != nil {
		return nil, err
	}
	out := make([]CreateTopicResult, len(w))
	for i, x := range w {
		out[i] = CreateTopicResult{Name: x.Name, ID: x.ID, Err: fromWire(x.Err)}
	}
	return out, nil
}

// DeleteTopics implements Controller.
func (c *Client) DeleteTopics(ctx context.Context, names []string) (map[string]error, error) {
	var w map[string]*wireError
	if err := c.call(ctx, "deleteTopics", names, &w); err != nil {
		return nil, err
	}
	out := map[string]error{}
	for k, e := range w {
		out[k] = fromWire(e)
	}
	return out, nil
}

// CreatePartitions implements Controller.
func (c *Client) CreatePartitions(ctx context.Context, topic string, total int32, assignments [][]int32) error {
	return c.call(ctx, "createPartitions", createPartitionsRequest{Topic: topic, Total: total, Assignments: assignments}, nil)
}

// ElectLeaders implements Controller.
func (c *Client) ElectLeaders(ctx context.Context, typ ElectionType, parts []TopicPartition) (map[TopicPartition]error, error) {
	var res []electResult
	if err := c.call(ctx, "electLeaders", electRequest{Type: typ, Partitions: parts}, &res); err != nil {
		return nil, err
	}
	out := make(map[TopicPartition]error, len(res))
	for _, r := range res {
		out[r.TopicPartition] = fromWire(r.Err)
	}
	return out, nil
}

// AlterTopicConfigs implements Controller.
func (c *Client) AlterTopicConfigs(ctx context.Context, topic string, configs map[string]*string) error {
	return c.call(ctx, "alterTopicConfigs", alterConfigsRequest{Topic: topic, Configs: configs}, nil)
}

// AlterPartition implements Controller.
func (c *Client) AlterPartition(ctx context.Context, req AlterPartitionRequest) (Partition, error) {
	var p Partition
	err := c.call(ctx, "alterPartition", req, &p)
	return p, err
}

// AllocateProducerIDs implements Controller.
func (c *Client) AllocateProducerIDs(ctx context.Context, nodeID int32, brokerEpoch int64) (ProducerIDBlock, error) {
	var b ProducerIDBlock
	err := c.call(ctx, "allocateProducerIds", producerIDsRequest{NodeID: nodeID, BrokerEpoch: brokerEpoch}, &b)
	return b, err
}

// AlterACLs implements Controller.
func (c *Client) AlterACLs(ctx context.Context, recs []ACLRecord) error {
	return c.call(ctx, "alterAcls", recs, nil)
}

// AlterSCRAM implements Controller.
func (c *Client) AlterSCRAM(ctx context.Context, recs []SCRAMRecord) error {
	return c.call(ctx, "alterScram", recs, nil)
}

// Leader asks the quorum which node leads it (the active controller); id -1: no leader
// known to the node that answered (an election is under way).
func (c *Client) Leader(ctx context.Context) (id int32, addr string, err error) {
	var li leaderInfo
	if err := c.call(ctx, "leader", struct{}{}, &li); err != nil {
		return -1, "", err
	}
	return li.ID, li.Addr, nil
}

// Image implements Controller: the newest image Watch fetched (empty before the first).
func (c *Client) Image() *Image { return c.image.Load() }

// Watch implements Controller: it long-polls a controller for an image newer than after.
func (c *Client) Watch(ctx context.Context, after uint64) (*Image, error) {
	for {
		wait := 30 * time.Second
		if dl, ok := ctx.Deadline(); ok {
			wait = min(wait, time.Until(dl))
		}
		var raw []byte
		if err := c.call(ctx, "watch", watchRequest{After: after, WaitMs: wait.Milliseconds()}, &raw); err != nil {
			return nil, err
		}
		im, err := ReadSnapshot(bytes.NewReader(raw))
		if err != nil {
			return nil, fmt.Errorf("cannot decode the controller's image: %w", err)
		}
		if cur := c.image.Load(); im.Version > cur.Version {
			c.image.CompareAndSwap(cur, im)
		}
		if im.Version > after {
			return im, nil
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}
