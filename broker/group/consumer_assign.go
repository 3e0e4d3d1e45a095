package group

import (
	"slices"
	"sort"
	"strings"
)

// This file holds the partition sets of KIP-848 consumer groups and the two server-side
// assignors (group.consumer.assignors): "uniform" and "range".

// topicPart names one partition by topic id, as KIP-848 does.
type topicPart struct {
	topic     [16]byte
	partition int32
}

// assignment is a set of partitions: topic id -> sorted, distinct partitions. A nil or
// empty assignment is the empty set; no topic maps to an empty slice.
type assignment map[[16]byte][]int32

func (a assignment) has(tp topicPart) bool {
	_, ok := slices.BinarySearch(a[tp.topic], tp.partition)
	return ok
}

func (a assignment) size() int {
	n := 0
	for _, ps := range a {
		n += len(ps)
	}
	return n
}

// each calls fn for every partition, in a deterministic order.
func (a assignment) each(fn func(topicPart)) {
	ids := make([][16]byte, 0, len(a))
	for id := range a {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return strings.Compare(string(x[:]), string(y[:])) })
	for _, id := range ids {
		for _, p := range a[id] {
			fn(topicPart{id, p})
		}
	}
}

func (a assignment) add(tp topicPart) assignment {
	if a == nil {
		a = make(assignment)
	}
	ps := a[tp.topic]
	i, ok := slices.BinarySearch(ps, tp.partition)
	if !ok {
		a[tp.topic] = slices.Insert(ps, i, tp.partition)
	}
	return a
}

// filter returns the partitions of a for which keep is true (a new set).
func (a assignment) filter(keep func(topicPart) bool) assignment {
	var out assignment
	a.each(func(tp topicPart) {
		if keep(tp) {
			out = out.add(tp)
		}
	})
	return out
}

func (a assignment) intersect(b assignment) assignment {
	return a.filter(b.has)
}

func (a assignment) minus(b assignment) assignment {
	return a.filter(func(tp topicPart) bool { return !b.has(tp) })
}

func (a assignment) union(b assignment) assignment {
	out := a.clone()
	b.each(func(tp topicPart) { out = out.add(tp) })
	return out
}

func (a assignment) intersects(b assignment) bool {
	found := false
	a.each(func(tp topicPart) { found = found || b.has(tp) })
	return found
}

func (a assignment) equal(b assignment) bool {
	return a.size() == b.size() && a.minus(b).size() == 0
}

func (a assignment) clone() assignment {
	if len(a) == 0 {
		return nil
	}
	out := make(assignment, len(a))
	for id, ps := range a {
		out[id] = slices.Clone(ps)
	}
	return out
}

// TopicInfo describes a topic for the consumer-group assignors.
type TopicInfo struct {
	Name       string
	ID         [16]byte
	Partitions int32
}

// assignMember is one member as an assignor sees it.
type assignMember struct {
	id     string
	sortBy string      // instance id if static, else member id: the order range assigns in
	topics []TopicInfo // subscribed and existing, sorted by name
	prev   assignment  // the previous target, for stickiness
}

// Assignor names (group.consumer.assignors; Kafka's short names).
const (
	AssignorUniform = "uniform"
	AssignorRange   = "range"
)

// assignorName maps a name or Kafka class name of group.consumer.assignors to the short
// name; ok is false for an assignor Strata does not have.
func assignorName(s string) (string, bool) {
	switch strings.TrimSpace(s) {
	case AssignorUniform, "org.apache.kafka.coordinator.group.assignor.UniformAssignor":
		return AssignorUniform, true
	case AssignorRange, "org.apache.kafka.coordinator.group.assignor.RangeAssignor":
		return AssignorRange, true
	}
	return "", false
}

// assign computes the target assignment of every member with the named assignor.
func assign(name string, members []assignMember) map[string]assignment {
	if name == AssignorRange {
		return assignRange(members)
	}
	return assignUniform(members)
}

// assignRange is Kafka's range assignment per topic: the members subscribed to a topic,
// sorted by instance id (static members) or member id, get consecutive ranges of its
// partitions, the first partitions%members of them one more. Members subscribed to the
// same co-partitioned topics get the same partition numbers of each.
func assignRange(members []assignMember) map[string]assignment {
	out := make(map[string]assignment, len(members))
	byTopic := map[[16]byte][]*assignMember{}
	infos := map[[16]byte]TopicInfo{}
	for i := range members {
		m := &members[i]
		out[m.id] = nil
		for _, t := range m.topics {
			byTopic[t.ID] = append(byTopic[t.ID], m)
			infos[t.ID] = t
		}
	}
	for id, ms := range byTopic {
		sort.Slice(ms, func(i, j int) bool { return ms[i].sortBy < ms[j].sortBy })
		n := int32(len(ms))
		parts := infos[id].Partitions
		per, extra := parts/n, parts%n
		start := int32(0)
		for i, m := range ms {
			cnt := per
			if int32(i) < extra {
				cnt++
			}
			for p := start; p < start+cnt; p++ {
				out[m.id] = out[m.id].add(topicPart{id, p})
			}
			start += cnt
		}
	}
	return out
}

// assignUniform spreads all subscribed partitions as evenly as the subscriptions allow
// and moves as few partitions as it can (Kafka's uniform assignor has the same goals):
// members keep previous partitions up to their fair share, the rest go one by one to
// the eligible member with the fewest, then partitions move from a member to an
// eligible one with at least two fewer until none can.
func assignUniform(members []assignMember) map[string]assignment {
	out := make(map[string]assignment, len(members))
	if len(members) == 0 {
		return out
	}
	ms := slices.Clone(members)
	sort.Slice(ms, func(i, j int) bool { return ms[i].id < ms[j].id })
	// Members and partitions are numbered; the work below is on slices.
	infos := map[[16]byte]TopicInfo{}
	withSubs := 0
	for _, m := range ms {
		out[m.id] = nil
		for _, t := range m.topics {
			infos[t.ID] = t
		}
		if len(m.topics) > 0 {
			withSubs++
		}
	}
	if withSubs == 0 {
		return out
	}
	ids := make([][16]byte, 0, len(infos))
	for id := range infos {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, func(x, y [16]byte) int { return strings.Compare(infos[x].Name, infos[y].Name) })
	topicIndex := make(map[[16]byte]int, len(ids))
	for ti, id := range ids {
		topicIndex[id] = ti
	}
	subscribers := make([][]int, len(ids)) // per topic: members subscribed, by id
	for i, m := range ms {
		for _, t := range m.topics {
			subscribers[topicIndex[t.ID]] = append(subscribers[topicIndex[t.ID]], i)
		}
	}
	var all []topicPart
	var eligible [][]int           // per partition index: members subscribed to its topic
	first := make([]int, len(ids)) // per topic: index of its partition 0 in all
	for ti, id := range ids {
		first[ti] = len(all)
		for p := int32(0); p < infos[id].Partitions; p++ {
			all = append(all, topicPart{id, p})
			eligible = append(eligible, subscribers[ti])
		}
	}
	// index returns the partition index of tp, or -1 for a partition nobody subscribes to.
	index := func(tp topicPart) int {
		ti, ok := topicIndex[tp.topic]
		if !ok || tp.partition < 0 || tp.partition >= infos[tp.topic].Partitions {
			return -1
		}
		return first[ti] + int(tp.partition)
	}
	quota := (len(all) + withSubs - 1) / withSubs
	owner := make([]int, len(all))
	for i := range owner {
		owner[i] = -1
	}
	count := make([]int, len(ms))
	for i, m := range ms {
		m.prev.each(func(tp topicPart) {
			pi := index(tp)
			if pi < 0 || owner[pi] >= 0 || count[i] >= quota || !slices.Contains(eligible[pi], i) {
				return
			}
			owner[pi] = i
			count[i]++
		})
	}
	for pi := range all {
		if owner[pi] >= 0 {
			continue
		}
		best := -1
		for _, i := range eligible[pi] {
			if best < 0 || count[i] < count[best] {
				best = i
			}
		}
		owner[pi] = best
		count[best]++
	}
	for moved := true; moved; {
		moved = false
		for pi := range all {
			from := owner[pi]
			for _, i := range eligible[pi] {
				if count[i] < count[from]-1 {
					owner[pi] = i
					count[from]--
					count[i]++
					moved = true
					break
				}
			}
		}
	}
	for pi, tp := range all {
		id := ms[owner[pi]].id
		out[id] = out[id].add(tp)
	}
	return out
}
