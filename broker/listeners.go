package broker

// Listeners: Kafka's listeners / advertised.listeners / listener.security.protocol.map.
//
// Every listener NAME://host:port (except CONTROLLER) is bound; its security protocol is
// listener.security.protocol.map[NAME] (a name that is itself a protocol maps to itself).
// A client connected through listener X is told, in Metadata and FindCoordinator, the
// advertised address of X: advertised.listeners' entry of the same name, else the bound
// address. PLAINTEXT and SASL_PLAINTEXT are plain TCP; SSL and SASL_SSL run TLS first.
// On SASL listeners only ApiVersions, SaslHandshake and SaslAuthenticate are served until
// authentication succeeds, and frames are limited to sasl.server.max.receive.size.

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/strata-io/strata/security"
)

// listenerSpec is one parsed NAME://host:port entry.
type listenerSpec struct {
	name     string // upper case
	protocol string // PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL
	host     string
	port     int
}

func (s listenerSpec) tls() bool { return s.protocol == protoSSL || s.protocol == protoSASLSSL }
func (s listenerSpec) sasl() bool {
	return s.protocol == protoSASLPlaintext || s.protocol == protoSASLSSL
}

// parseListeners parses a listeners value, skipping CONTROLLER.
func parseListeners(s string, pm map[string]string) ([]listenerSpec, error) {
	var out []listenerSpec
	seen := map[string]bool{}
	for l := range strings.SplitSeq(s, ",") {
		l = strings.TrimSpace(l)
		if l == "" {
			continue
		}
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			return nil, fmt.Errorf("listener %q is not NAME://host:port", l)
		}
		name = strings.ToUpper(name)
		if name == "CONTROLLER" {
			continue
		}
		proto, ok := pm[name]
		if !ok {
			return nil, fmt.Errorf("listener %q: no security protocol for %s in listener.security.protocol.map", l, name)
		}
		h, p, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, fmt.Errorf("listener %q: %w", l, err)
		}
		pn, err := strconv.Atoi(p)
		if err != nil || pn < 0 || pn > 65535 {
			return nil, fmt.Errorf("listener %q: bad port", l)
		}
		if seen[name] {
			return nil, fmt.Errorf("listener name %s twice", name)
		}
		seen[name] = true
		out = append(out, listenerSpec{name: name, protocol: proto, host: h, port: pn})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no listener in %q", s)
	}
	return out, nil
}

// listener is one bound listener.
type listener struct {
	spec       listenerSpec
	cfg        *Config // the broker config with this listener's overrides
	ln         net.Listener
	tls        *security.TLSProvider // nil for PLAINTEXT / SASL_PLAINTEXT
	advertised *listenerSpec
}

// openListeners binds every listener; b.ln is the first.
func (b *Broker) openListeners() error {
	pm, err := b.cfg.protocolMap()
	if err != nil {
		return err
	}
	specs, err := parseListeners(b.cfg.Listeners, pm)
	if err != nil {
		return err
	}
	var adv []listenerSpec
	if b.cfg.AdvertisedListeners != "" {
		if adv, err = parseListeners(b.cfg.AdvertisedListeners, pm); err != nil {
			return err
		}
	}
	for _, s := range specs {
		l := &listener{spec: s, cfg: b.cfg.forListener(s.name)}
		if s.tls() {
			if l.tls, err = security.NewTLSProvider(l.cfg.tlsSettings(), b.logger); err != nil {
				b.closeListeners()
				return fmt.Errorf("listener %s: %w", s.name, err)
			}
		}
		for i := range adv {
			if adv[i].name == s.name {
				l.advertised = &adv[i]
			}
		}
		if l.advertised == nil && len(specs) == 1 && len(adv) == 1 {
			l.advertised = &adv[0] // a single listener advertised under another name
		}
		addr := net.JoinHostPort(s.host, strconv.Itoa(s.port))
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			b.closeListeners()
			return fmt.Errorf("cannot listen on %q (%s): %w", addr, s.name, err)
		}
		l.ln = ln
		b.listeners = append(b.listeners, l)
	}
	b.ln = b.listeners[0].ln
	return nil
}

func (b *Broker) closeListeners() {
	for _, l := range b.listeners {
		if l.ln != nil {
			l.ln.Close()
		}
	}
}

// ListenerAddr returns the bound address of the listener named name (nil if none).
func (b *Broker) ListenerAddr(name string) net.Addr {
	for _, l := range b.listeners {
		if strings.EqualFold(l.spec.name, name) {
			return l.ln.Addr()
		}
	}
	return nil
}

// acceptLoop accepts connections on l until ctx ends or the listener closes.
func (b *Broker) acceptLoop(ctx context.Context, l *listener) {
	var tempDelay time.Duration
	for {
		nc, err := l.ln.Accept()
		if err != nil {
			if ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// Temporary errors (EMFILE...): back off like net/http does.
			if tempDelay == 0 {
				tempDelay = 5 * time.Millisecond
			} else {
				tempDelay = min(2*tempDelay, time.Second)
			}
			b.logger.Warn("accept failed", "listener", l.spec.name, "err", err, "retry_in", tempDelay)
			select {
			case <-time.After(tempDelay):
			case <-ctx.Done():
			}
			continue
		}
		tempDelay = 0
		if !b.trackConn(nc) {
			nc.Close()
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.untrackConn(nc)
			c := b.newConn(nc, l) // conn.go
			if c.handshake(ctx) {
				c.serve(ctx)
			}
		}()
	}
}

// tlsConn is a completed TLS handshake.
type tlsConn struct {
	conn      *tls.Conn
	principal string
}

// tlsHandshake runs the server side of the handshake within connections.max.idle.ms
// (bounded to 10 s). A failed handshake is logged at Info without secrets and closes nc.
func (b *Broker) tlsHandshake(ctx context.Context, nc net.Conn, l *listener) (*tlsConn, error) {
	tc := tls.Server(nc, l.tls.Config())
	hctx, cancel := context.WithTimeout(ctx, min(b.cfg.ConnectionsMaxIdle, 10*time.Second))
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		b.logger.Info("tls handshake failed", "listener", l.spec.name, "remote", nc.RemoteAddr().String(), "err", err)
		b.secm.TLSFailed(l.spec.name)
		nc.Close()
		return nil, err
	}
	p := security.Anonymous
	if st := tc.ConnectionState(); len(st.PeerCertificates) > 0 {
		p = "User:" + l.tls.PrincipalFor(st.PeerCertificates[0])
	}
	return &tlsConn{conn: tc, principal: p}, nil
}

// advertisedFor is the advertised spec of the listener the request came through (nil:
// use the first listener and advertised.listeners' first entry).
func advertisedFor(ctx context.Context) (*listener, bool) {
	cs := connStateFrom(ctx)
	if cs == nil || cs.listener == nil {
		return nil, false
	}
	return cs.listener, true
}
