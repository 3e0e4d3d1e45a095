package security

// ACLs and the authorizer, with the semantics of Kafka's StandardAuthorizer (KIP-801),
// which are those of the older AclAuthorizer:
//
//   1. A super user (super.users) may do everything.
//   2. The ACLs that apply to a request are those whose resource type is the resource's,
//      whose pattern matches the name (LITERAL: equal, or the literal wildcard "*";
//      PREFIXED: the name starts with the pattern), whose principal is the request's
//      principal or "User:*", and whose host is the client's address or "*".
//   3. A DENY among them for the operation, or for ALL, denies. Deny always wins.
//   4. If no ACL at all names a matching resource pattern (whoever its principal, host or
//      operation), the result is allow.everyone.if.no.acl.found.
//   5. An ALLOW for the operation, or for ALL, allows. DESCRIBE is also allowed by an
//      ALLOW for READ, WRITE, DELETE or ALTER; DESCRIBE_CONFIGS by ALTER_CONFIGS.
//      Implications apply to ALLOW only, never to DENY.
//   6. Otherwise the request is denied.
//
// Without authorizer.class.name every request is allowed and the ACL APIs answer
// SECURITY_DISABLED. ACLs live in <data-dir>/meta/acls.json (atomic replace):
//
//   {"version":1,"acls":[{"resource_type":2,"resource_name":"orders","pattern_type":3,
//     "principal":"User:alice","host":"*","operation":3,"permission":3}, ...]}
//
// with Kafka's numeric codes (resource type TOPIC=2 GROUP=3 CLUSTER=4 TRANSACTIONAL_ID=5
// DELEGATION_TOKEN=6 USER=7; pattern LITERAL=3 PREFIXED=4; operation ALL=2 READ=3 WRITE=4
// CREATE=5 DELETE=6 ALTER=7 DESCRIBE=8 CLUSTER_ACTION=9 DESCRIBE_CONFIGS=10
// ALTER_CONFIGS=11 IDEMPOTENT_WRITE=12 CREATE_TOKENS=13 DESCRIBE_TOKENS=14; permission
// DENY=2 ALLOW=3).

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/segment"
)

// ACLFileName is the ACL file's name in the meta directory and under the bucket's
// _security/ prefix.
const ACLFileName = "acls.json"

// ACL is one access control entry bound to a resource pattern.
type ACL struct {
	ResourceType kmsg.ACLResourceType        `json:"resource_type"`
	ResourceName string                      `json:"resource_name"`
	PatternType  kmsg.ACLResourcePatternType `json:"pattern_type"`
	Principal    string                      `json:"principal"`
	Host         string                      `json:"host"`
	Operation    kmsg.ACLOperation           `json:"operation"`
	Permission   kmsg.ACLPermissionType      `json:"permission"`
}

// ACLFilter selects ACLs (DescribeAcls, DeleteAcls). Nil strings match anything; ANY
// enums match anything; pattern MATCH selects every pattern that applies to the name.
type ACLFilter struct {
	ResourceType kmsg.ACLResourceType
	ResourceName *string
	PatternType  kmsg.ACLResourcePatternType
	Principal    *string
	Host         *string
	Operation    kmsg.ACLOperation
	Permission   kmsg.ACLPermissionType
}

// patternMatches reports whether a stored pattern applies to resource name.
func patternMatches(pt kmsg.ACLResourcePatternType, pattern, name string) bool {
	switch pt {
	case kmsg.ACLResourcePatternTypeLiteral:
		return pattern == name || pattern == "*"
	case kmsg.ACLResourcePatternTypePrefixed:
		return strings.HasPrefix(name, pattern)
	}
	return false
}

// Matches reports whether the filter selects a.
func (f ACLFilter) Matches(a ACL) bool {
	if f.ResourceType != kmsg.ACLResourceTypeAny && f.ResourceType != a.ResourceType {
		return false
	}
	switch f.PatternType {
	case kmsg.ACLResourcePatternTypeAny:
		if f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	case kmsg.ACLResourcePatternTypeMatch:
		if f.ResourceName != nil && !patternMatches(a.PatternType, a.ResourceName, *f.ResourceName) {
			return false
		}
	default:
		if f.PatternType != a.PatternType {
			return false
		}
		if f.ResourceName != nil && *f.ResourceName != a.ResourceName {
			return false
		}
	}
	if f.Principal != nil && *f.Principal != a.Principal {
		return false
	}
	if f.Host != nil && *f.Host != a.Host {
		return false
	}
	if f.Operation != kmsg.ACLOperationAny && f.Operation != a.Operation {
		return false
	}
	if f.Permission != kmsg.ACLPermissionTypeAny && f.Permission != a.Permission {
		return false
	}
	return true
}

// ValidateACL checks a binding for CreateAcls.
func ValidateACL(a ACL) error {
	switch a.ResourceType {
	case kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeCluster,
		kmsg.ACLResourceTypeTransactionalId, kmsg.ACLResourceTypeDelegationToken, kmsg.ACLResourceTypeUser:
	default:
		return fmt.Errorf("invalid resource type %d", a.ResourceType)
	}
	switch a.PatternType {
	case kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed:
	default:
		return fmt.Errorf("invalid pattern type %d", a.PatternType)
	}
	if a.ResourceName == "" {
		return errors.New("resource name must not be empty")
	}
	if a.PatternType == kmsg.ACLResourcePatternTypePrefixed && a.ResourceName == "*" {
		return errors.New("a PREFIXED pattern of '*' is not allowed; use LITERAL '*'")
	}
	if a.ResourceType == kmsg.ACLResourceTypeCluster && (a.ResourceName != ClusterName || a.PatternType != kmsg.ACLResourcePatternTypeLiteral) {
		return fmt.Errorf("the cluster resource is the literal %q", ClusterName)
	}
	typ, name, ok := strings.Cut(a.Principal, ":")
	if !ok || name == "" || typ == "" {
		return fmt.Errorf("principal %q is not Type:name", a.Principal)
	}
	if a.Host == "" {
		return errors.New("host must not be empty (use '*')")
	}
	if a.Operation <= kmsg.ACLOperationAny || a.Operation > kmsg.ACLOperationDescribeTokens {
		return fmt.Errorf("invalid operation %d", a.Operation)
	}
	if a.Permission != kmsg.ACLPermissionTypeAllow && a.Permission != kmsg.ACLPermissionTypeDeny {
		return fmt.Errorf("invalid permission type %d", a.Permission)
	}
	return nil
}

// Authorizer decides requests from ACLs; safe for concurrent use.
type Authorizer struct {
	superUsers    map[string]bool
	allowIfNoACLs bool

	mu   sync.RWMutex
	acls []ACL
	idx  map[kmsg.ACLResourceType]*aclIndex // rebuilt from acls on every change
}

// aclIndex holds the ACLs of one resource type by pattern, so a decision looks at the
// literal entries of its name and of '*' and scans only the prefixed ones.
type aclIndex struct {
	literal  map[string][]*ACL
	prefixed []*ACL
}

// reindexLocked rebuilds idx from acls; a.mu is held for writing.
func (a *Authorizer) reindexLocked() {
	a.idx = make(map[kmsg.ACLResourceType]*aclIndex)
	for i := range a.acls {
		e := &a.acls[i]
		x := a.idx[e.ResourceType]
		if x == nil {
			x = &aclIndex{literal: map[string][]*ACL{}}
			a.idx[e.ResourceType] = x
		}
		if e.PatternType == kmsg.ACLResourcePatternTypePrefixed {
			x.prefixed = append(x.prefixed, e)
		} else {
			x.literal[e.ResourceName] = append(x.literal[e.ResourceName], e)
		}
	}
}

// NewAuthorizer returns an authorizer with the given super users and default.
func NewAuthorizer(superUsers []string, allowEveryoneIfNoACLFound bool) *Authorizer {
	a := &Authorizer{superUsers: map[string]bool{}, allowIfNoACLs: allowEveryoneIfNoACLFound}
	for _, u := range superUsers {
		a.superUsers[u] = true
	}
	return a
}

// impliedBy reports whether an ALLOW for granted allows op.
func impliedBy(granted, op kmsg.ACLOperation) bool {
	if granted == op || granted == kmsg.ACLOperationAll {
		return true
	}
	switch op {
	case kmsg.ACLOperationDescribe:
		switch granted {
		case kmsg.ACLOperationRead, kmsg.ACLOperationWrite, kmsg.ACLOperationDelete, kmsg.ACLOperationAlter:
			return true
		}
	case kmsg.ACLOperationDescribeConfigs:
		return granted == kmsg.ACLOperationAlterConfigs
	}
	return false
}

// Authorize decides whether principal, connecting from host, may perform op on the
// resource (rt, name).
func (a *Authorizer) Authorize(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType, name string) bool {
	if a.superUsers[principal] {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	x := a.idx[rt]
	if x == nil {
		return a.allowIfNoACLs
	}
	resourceHasACLs, allowed, denied := false, false, false
	check := func(e *ACL) {
		resourceHasACLs = true
		if (e.Principal != principal && e.Principal != "User:*") || (e.Host != host && e.Host != "*") {
			return
		}
		switch e.Permission {
		case kmsg.ACLPermissionTypeDeny:
			if e.Operation == op || e.Operation == kmsg.ACLOperationAll {
				denied = true
			}
		case kmsg.ACLPermissionTypeAllow:
			if impliedBy(e.Operation, op) {
				allowed = true
			}
		}
	}
	for _, e := range x.literal[name] {
		check(e)
	}
	if name != "*" {
		for _, e := range x.literal["*"] {
			check(e)
		}
	}
	for _, e := range x.prefixed {
		if strings.HasPrefix(name, e.ResourceName) {
			check(e)
		}
	}
	switch {
	case denied:
		return false
	case !resourceHasACLs:
		return a.allowIfNoACLs
	}
	return allowed
}

// AuthorizeAny reports whether op is allowed on at least one resource of type rt:
// Kafka's authorizeByResourceType (KIP-679; idempotent producers need WRITE on some
// topic). Among the ACLs that apply to the principal and host: a DENY on the wildcard
// '*' denies; an ALLOW on a literal name allows unless a DENY names that literal or a
// prefix of it; an ALLOW on a prefix allows unless a DENY prefix is a prefix of it.
// Without any ACL of the type, allow.everyone.if.no.acl.found decides.
func (a *Authorizer) AuthorizeAny(principal, host string, op kmsg.ACLOperation, rt kmsg.ACLResourceType) bool {
	if a.superUsers[principal] {
		return true
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	var allows, denies []*ACL
	for i := range a.acls {
		e := &a.acls[i]
		if e.ResourceType != rt || (e.Principal != principal && e.Principal != "User:*") || (e.Host != host && e.Host != "*") {
			continue
		}
		switch {
		case e.Permission == kmsg.ACLPermissionTypeDeny && (e.Operation == op || e.Operation == kmsg.ACLOperationAll):
			if e.PatternType == kmsg.ACLResourcePatternTypeLiteral && e.ResourceName == "*" {
				return false
			}
			denies = append(denies, e)
		case e.Permission == kmsg.ACLPermissionTypeAllow && impliedBy(e.Operation, op):
			allows = append(allows, e)
		}
	}
	for _, al := range allows {
		dominated := false
		for _, d := range denies {
			switch d.PatternType {
			case kmsg.ACLResourcePatternTypeLiteral:
				dominated = al.PatternType == kmsg.ACLResourcePatternTypeLiteral && d.ResourceName == al.ResourceName
			case kmsg.ACLResourcePatternTypePrefixed:
				dominated = strings.HasPrefix(al.ResourceName, d.ResourceName)
			}
			if dominated {
				break
			}
		}
		if !dominated {
			return true
		}
	}
	return a.allowIfNoACLs && !a.anyOfTypeLocked(rt)
}

func (a *Authorizer) anyOfTypeLocked(rt kmsg.ACLResourceType) bool {
	for i := range a.acls {
		if a.acls[i].ResourceType == rt {
			return true
		}
	}
	return false
}

// ACLs returns the ACLs the filter selects.
func (a *Authorizer) ACLs(f ACLFilter) []ACL {
	a.mu.RLock()
	defer a.mu.RUnlock()
	var out []ACL
	for _, e := range a.acls {
		if f.Matches(e) {
			out = append(out, e)
		}
	}
	return out
}

// add appends ACLs not already present; the caller persists.
func (a *Authorizer) addLocked(acls ...ACL) {
	for _, n := range acls {
		dup := false
		for _, e := range a.acls {
			if e == n {
				dup = true
				break
			}
		}
		if !dup {
			a.acls = append(a.acls, n)
		}
	}
	a.reindexLocked()
}

// ACLStore persists an Authorizer's ACLs in <meta>/acls.json.
type ACLStore struct {
	fsys   segment.FS
	path   string
	a      *Authorizer
	onSave func(name string) // called without locks after each successful change; may be nil
	mu     sync.Mutex        // serialises mutations and writes
}

type aclFile struct {
	Version int   `json:"version"`
	ACLs    []ACL `json:"acls"`
}

// OpenACLStore loads <metaDir>/acls.json into a and returns the store that persists a's
// later changes. onSave (may be nil) is called with ACLFileName, without locks, after
// every change that was written, e.g. to mirror the file to the bucket.
func OpenACLStore(fsys segment.FS, metaDir string, a *Authorizer, onSave func(name string)) (*ACLStore, error) {
	s := &ACLStore{fsys: fsys, path: filepath.Join(metaDir, ACLFileName), a: a, onSave: onSave}
	data, err := segment.ReadFile(fsys, s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("cannot read %q: %w", s.path, err)
	}
	var f aclFile
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("cannot parse %q: %w", s.path, err)
	}
	if f.Version != 1 {
		return nil, fmt.Errorf("cannot read %q: unknown version %d", s.path, f.Version)
	}
	a.mu.Lock()
	a.addLocked(f.ACLs...)
	a.mu.Unlock()
	return s, nil
}

// saveLocked writes the authorizer's ACLs; a.mu is held (at least shared).
func (s *ACLStore) saveLocked(a *Authorizer) error {
	acls := append([]ACL(nil), a.acls...)
	sort.SliceStable(acls, func(i, j int) bool {
		x, y := acls[i], acls[j]
		if x.ResourceType != y.ResourceType {
			return x.ResourceType < y.ResourceType
		}
		return x.ResourceName < y.ResourceName
	})
	data, err := json.MarshalIndent(aclFile{Version: 1, ACLs: acls}, "", " ")
	if err != nil {
		return err
	}
	return segment.WriteFileAtomic(s.fsys, s.path, data, 0o644)
}

func (s *ACLStore) saved() {
	if s.onSave != nil {
		s.onSave(ACLFileName)
	}
}

// Create adds ACLs (those not already present) and persists them; on a failed write
// the authorizer keeps its previous ACLs.
func (s *ACLStore) Create(acls []ACL) error {
	changed, err := s.createLocked(s.a, acls)
	if changed {
		s.saved()
	}
	return err
}

func (s *ACLStore) createLocked(a *Authorizer, acls []ACL) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	before := len(a.acls)
	a.addLocked(acls...)
	if len(a.acls) == before {
		return false, nil
	}
	if err := s.saveLocked(a); err != nil {
		a.acls = a.acls[:before]
		a.reindexLocked()
		return false, err
	}
	return true, nil
}

// Delete removes the ACLs each filter selects and persists; it returns, per filter, what
// that filter removed. On a failed write nothing is removed.
func (s *ACLStore) Delete(filters []ACLFilter) ([][]ACL, error) {
	out, changed, err := s.deleteLocked(s.a, filters)
	if changed {
		s.saved()
	}
	return out, err
}

func (s *ACLStore) deleteLocked(a *Authorizer, filters []ACLFilter) ([][]ACL, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([][]ACL, len(filters))
	keep := make([]bool, len(a.acls))
	for i := range keep {
		keep[i] = true
	}
	for fi, f := range filters {
		for i, e := range a.acls {
			if f.Matches(e) {
				out[fi] = append(out[fi], e)
				keep[i] = false
			}
		}
	}
	old := a.acls
	var next []ACL
	for i, e := range old {
		if keep[i] {
			next = append(next, e)
		}
	}
	if len(next) == len(old) {
		return out, false, nil
	}
	a.acls = next
	a.reindexLocked()
	if err := s.saveLocked(a); err != nil {
		a.acls = old
		a.reindexLocked()
		return nil, false, err
	}
	return out, true, nil
}

// ValidateFilter rejects filters with UNKNOWN enums.
func ValidateFilter(f ACLFilter) error {
	switch {
	case f.ResourceType == kmsg.ACLResourceTypeUnknown || f.ResourceType > kmsg.ACLResourceTypeUser:
		return errInvalidFilter("resource type")
	case f.PatternType == kmsg.ACLResourcePatternTypeUnknown || f.PatternType > kmsg.ACLResourcePatternTypePrefixed:
		return errInvalidFilter("pattern type")
	case f.Operation == kmsg.ACLOperationUnknown || f.Operation > kmsg.ACLOperationDescribeTokens:
		return errInvalidFilter("operation")
	case f.Permission == kmsg.ACLPermissionTypeUnknown || f.Permission > kmsg.ACLPermissionTypeAllow:
		return errInvalidFilter("permission type")
	}
	return nil
}

type errInvalidFilter string

func (e errInvalidFilter) Error() string { return "invalid ACL filter: unknown " + string(e) }
