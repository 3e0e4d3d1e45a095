package cluster

import (
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
)

// QuorumConfig is the cluster part of a broker's configuration, from Kafka's keys:
//
//	process.roles                        broker | controller | broker,controller
//	node.id                              this node's id (also its Raft server id)
//	controller.quorum.voters             id@host:port,... (the static quorum)
//	controller.quorum.bootstrap.servers  host:port,... (where a broker-only node finds controllers)
//	controller.listener.names            listener names in listeners= the quorum binds to
//
// Without process.roles (or with a combined node whose only voter is itself) the node is
// the single broker it has always been: Clustered reports false and nothing else changes.
type QuorumConfig struct {
	Broker, Controller bool // process.roles
	NodeID             int32
	Voters             []Voter
	BootstrapServers   []string
	ListenerNames      []string
	// BindAddr is where this node's Raft transport listens: the first controller
	// listener in listeners=, else its own voter address.
	BindAddr string
}

// Clustered reports whether the node takes part in a multi-node cluster: it has roles and
// the quorum names a node other than itself (or it is a broker-only node).
func (q QuorumConfig) Clustered() bool {
	if !q.Broker && !q.Controller {
		return false
	}
	if !q.Controller {
		return true
	}
	for _, v := range q.Voters {
		if v.ID != q.NodeID {
			return true
		}
	}
	return false
}

// ParseQuorumConfig reads the keys above from props (Kafka names). A malformed value is an
// error only when process.roles is set: without it the keys keep their old meaning
// (accepted, without effect).
func ParseQuorumConfig(props map[string]string) (QuorumConfig, error) {
	var q QuorumConfig
	roles := strings.TrimSpace(props["process.roles"])
	if roles == "" {
		return q, nil
	}
	for _, r := range strings.Split(roles, ",") {
		switch strings.TrimSpace(r) {
		case "broker":
			if q.Broker {
				return q, fmt.Errorf("process.roles %q: broker named twice", roles)
			}
			q.Broker = true
		case "controller":
			if q.Controller {
				return q, fmt.Errorf("process.roles %q: controller named twice", roles)
			}
			q.Controller = true
		default:
			return q, fmt.Errorf("process.roles %q: want broker, controller or broker,controller", roles)
		}
	}
	id := strings.TrimSpace(props["node.id"])
	if id == "" {
		id = strings.TrimSpace(props["broker.id"])
	}
	if id != "" {
		v, err := strconv.ParseInt(id, 10, 32)
		if err != nil || v < 0 {
			return q, fmt.Errorf("node.id %q: want an integer >= 0", id)
		}
		q.NodeID = int32(v)
	}
	var err error
	if q.Voters, err = ParseVoters(props["controller.quorum.voters"]); err != nil {
		return q, err
	}
	for _, s := range splitList(props["controller.quorum.bootstrap.servers"]) {
		if _, _, err := net.SplitHostPort(s); err != nil {
			return q, fmt.Errorf("controller.quorum.bootstrap.servers: %q: %v", s, err)
		}
		q.BootstrapServers = append(q.BootstrapServers, s)
	}
	q.ListenerNames = splitList(props["controller.listener.names"])
	if q.Controller {
		self := slices.IndexFunc(q.Voters, func(v Voter) bool { return v.ID == q.NodeID })
		if len(q.Voters) > 0 && self < 0 {
			return q, fmt.Errorf("controller.quorum.voters %q does not name node.id %d", props["controller.quorum.voters"], q.NodeID)
		}
		if len(q.Voters) == 0 && len(q.BootstrapServers) > 1 {
			return q, fmt.Errorf("a controller needs controller.quorum.voters (id@host:port,...): dynamic quorums (KIP-853, bootstrap servers only) are not supported")
		}
		if self >= 0 {
			q.BindAddr = q.Voters[self].Addr
		}
		if a, ok := controllerListener(props["listeners"], q.ListenerNames); ok {
			q.BindAddr = a
		}
	}
	if q.Clustered() && !q.Controller && len(q.Voters) == 0 && len(q.BootstrapServers) == 0 {
		return q, fmt.Errorf("a broker-only node needs controller.quorum.voters or controller.quorum.bootstrap.servers")
	}
	return q, nil
}

// ParseVoters parses controller.quorum.voters: id@host:port, comma separated.
func ParseVoters(s string) ([]Voter, error) {
	var out []Voter
	for _, item := range splitList(s) {
		idStr, addr, ok := strings.Cut(item, "@")
		id, err := strconv.ParseInt(idStr, 10, 32)
		if !ok || err != nil || id < 0 {
			return nil, fmt.Errorf("controller.quorum.voters: %q: want id@host:port", item)
		}
		if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
			return nil, fmt.Errorf("controller.quorum.voters: %q: want id@host:port", item)
		}
		if slices.ContainsFunc(out, func(v Voter) bool { return v.ID == int32(id) }) {
			return nil, fmt.Errorf("controller.quorum.voters: voter %d named twice", id)
		}
		out = append(out, Voter{ID: int32(id), Addr: addr})
	}
	return out, nil
}

// controllerListener returns host:port of the first listener in listeners= whose name is
// one of names.
func controllerListener(listeners string, names []string) (string, bool) {
	for _, l := range splitList(listeners) {
		name, hp, ok := strings.Cut(l, "://")
		if ok && slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, name) }) {
			return hp, true
		}
	}
	return "", false
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
