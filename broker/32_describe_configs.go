package broker

// DescribeConfigs (key 32), versions 0-4.
//
// TOPIC resources: every topic config (topicKeys) with its Kafka name and effective value.
// A topic override has source DYNAMIC_TOPIC_CONFIG; otherwise the value comes from the
// broker synonym (STATIC_BROKER_CONFIG when the broker config file set it, else
// DEFAULT_CONFIG). IncludeSynonyms (v1+) lists the override, the broker value and the
// default, in that order of precedence. Unknown topic: UNKNOWN_TOPIC_OR_PARTITION.
// BROKER resources (name "" or this node's id): every broker key, read-only, sensitive
// values masked. Other resource types are INVALID_REQUEST.

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() {
	register(apiEntry{key: kmsg.DescribeConfigs, min: 0, max: 4, handle: h((*Broker).handleDescribeConfigs), authz: hook(authzDescribeConfigs)})
}

type configSynonym struct {
	name, value string
	source      kmsg.ConfigSource
}

type configEntry struct {
	name, value string
	source      kmsg.ConfigSource
	typ         kmsg.ConfigType
	readOnly    bool
	sensitive   bool
	doc         string
	synonyms    []configSynonym
}

func (e *configEntry) valuePtr() *string {
	if e.sensitive {
		return nil
	}
	v := e.value
	return &v
}

// defaultBrokerConfig is ParseConfig(nil): the values behind DEFAULT_CONFIG synonyms.
var defaultBrokerConfig = sync.OnceValue(func() Config {
	c, err := ParseConfig(nil)
	if err != nil {
		panic(fmt.Sprintf("broker: default config invalid: %v", err))
	}
	return c
})

// topicConfigEntries describes every topic config given a topic's overrides.
func topicConfigEntries(bc *Config, overrides map[string]string, synonyms bool) []configEntry {
	out := make([]configEntry, 0, len(topicKeys))
	def := defaultBrokerConfig()
	for i := range topicKeys {
		k := &topicKeys[i]
		e := configEntry{name: k.name, typ: k.typ, sensitive: k.sensitive, doc: k.doc}
		bv, bsrc := k.defaultValue(bc)
		if v, ok := overrides[k.name]; ok {
			e.value, e.source = v, kmsg.ConfigSourceDynamicTopicConfig
		} else {
			e.value, e.source = bv, bsrc
		}
		if synonyms {
			if e.source == kmsg.ConfigSourceDynamicTopicConfig {
				e.synonyms = append(e.synonyms, configSynonym{k.name, e.value, e.source})
			}
			if k.brokerKey != "" {
				if bsrc == kmsg.ConfigSourceStaticBrokerConfig {
					e.synonyms = append(e.synonyms, configSynonym{k.brokerKey, bv, bsrc})
				}
				dv, _ := def.brokerConfigValue(k.brokerKey)
				e.synonyms = append(e.synonyms, configSynonym{k.brokerKey, dv, kmsg.ConfigSourceDefaultConfig})
			} else {
				e.synonyms = append(e.synonyms, configSynonym{k.name, k.def, kmsg.ConfigSourceDefaultConfig})
			}
		}
		out = append(out, e)
	}
	return out
}

// brokerConfigEntries describes every broker key.
func brokerConfigEntries(bc *Config, synonyms bool) []configEntry {
	out := make([]configEntry, 0, len(brokerKeys))
	def := defaultBrokerConfig()
	for i := range brokerKeys {
		k := &brokerKeys[i]
		if k.Ignored || k.get == nil {
			continue
		}
		e := configEntry{name: k.Name, value: k.get(bc), typ: k.typ, readOnly: true, sensitive: k.Sensitive, doc: k.Doc,
			source: kmsg.ConfigSourceDefaultConfig}
		if bc.isExplicit(k.Name) {
			e.source = kmsg.ConfigSourceStaticBrokerConfig
		}
		if synonyms {
			if e.source == kmsg.ConfigSourceStaticBrokerConfig {
				e.synonyms = append(e.synonyms, configSynonym{k.Name, e.value, e.source})
			}
			e.synonyms = append(e.synonyms, configSynonym{k.Name, k.get(&def), kmsg.ConfigSourceDefaultConfig})
		}
		out = append(out, e)
	}
	return out
}

// isThisBroker reports whether a BROKER resource name addresses this node.
func (b *Broker) isThisBroker(name string) bool {
	return name == "" || name == strconv.Itoa(int(b.cfg.NodeID))
}

func (b *Broker) handleDescribeConfigs(ctx context.Context, req *kmsg.DescribeConfigsRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	synonyms := req.Version >= 1 && req.IncludeSynonyms
	for _, rr := range req.Resources {
		sr := kmsg.NewDescribeConfigsResponseResource()
		sr.ResourceType = rr.ResourceType
		sr.ResourceName = rr.ResourceName
		var (
			entries []configEntry
			err     error
		)
		switch rr.ResourceType {
		case kmsg.ConfigResourceTypeTopic:
			t := b.lookupTopic(rr.ResourceName)
			if t == nil {
				t = b.internalTopic(rr.ResourceName) // internaltopics.go
			}
			if t == nil {
				err = errUnknownTopic
				if verr := validateTopicName(rr.ResourceName); verr != nil {
					err = verr
				}
			} else {
				entries = topicConfigEntries(&b.cfg, t.configOverrides(), synonyms)
			}
		case kmsg.ConfigResourceTypeBroker:
			if !b.isThisBroker(rr.ResourceName) {
				err = fmt.Errorf("%w: broker %q is not this node (%d)", errInvalidRequest, rr.ResourceName, b.cfg.NodeID)
			} else {
				entries = brokerConfigEntries(&b.cfg, synonyms)
			}
		default:
			err = fmt.Errorf("%w: unsupported resource type %v", errInvalidRequest, rr.ResourceType)
		}
		if err != nil {
			sr.ErrorCode, sr.ErrorMessage = errorCode(err), errorMessage(err)
			resp.Resources = append(resp.Resources, sr)
			continue
		}
		var want map[string]bool
		if rr.ConfigNames != nil {
			want = make(map[string]bool, len(rr.ConfigNames))
			for _, n := range rr.ConfigNames {
				want[n] = true
			}
		}
		for _, e := range entries {
			if want != nil && !want[e.name] {
				continue
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name = e.name
			c.Value = e.valuePtr()
			c.ReadOnly = e.readOnly
			c.IsDefault = e.source == kmsg.ConfigSourceDefaultConfig
			c.Source = e.source
			c.IsSensitive = e.sensitive
			c.ConfigType = e.typ
			if req.IncludeDocumentation && e.doc != "" {
				c.Documentation = kmsg.StringPtr(e.doc)
			}
			for _, s := range e.synonyms {
				cs := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				cs.Name = s.name
				if !e.sensitive {
					cs.Value = kmsg.StringPtr(s.value)
				}
				cs.Source = s.source
				c.ConfigSynonyms = append(c.ConfigSynonyms, cs)
			}
			sr.Configs = append(sr.Configs, c)
		}
		resp.Resources = append(resp.Resources, sr)
	}
	return resp, nil
}

func authzDescribeConfigs(b *Broker, ctx context.Context, req *kmsg.DescribeConfigsRequest, next func(kmsg.Request) (kmsg.Response, error)) (kmsg.Response, error) {
	var denied []kmsg.DescribeConfigsResponseResource
	req.Resources, _ = split(req.Resources, func(rr kmsg.DescribeConfigsRequestResource) bool {
		ok, code := b.configResourceAllowed(ctx, kmsg.ACLOperationDescribeConfigs, rr.ResourceType, rr.ResourceName)
		if !ok {
			sr := kmsg.NewDescribeConfigsResponseResource()
			sr.ResourceType, sr.ResourceName, sr.ErrorCode = rr.ResourceType, rr.ResourceName, code
			denied = append(denied, sr)
		}
		return ok
	})
	r, err := next(req)
	if err != nil || len(denied) == 0 {
		return r, err
	}
	resp := r.(*kmsg.DescribeConfigsResponse)
	resp.Resources = append(resp.Resources, denied...)
	return resp, nil
}
