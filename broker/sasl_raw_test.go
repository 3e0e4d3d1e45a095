package broker

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-io/strata/security"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// saslBroker runs a SASL_PLAINTEXT broker with one SCRAM user (alice / pw-alice-1).
func saslBroker(t *testing.T) *Broker {
	t.Helper()
	b := startCoreBroker(t, map[string]string{"listeners": "SASL_PLAINTEXT://127.0.0.1:0"})
	salt := []byte("0123456789abcdef")
	// The salted password as a client would send it in AlterUserScramCredentials.
	salted := security.SaltedPassword(security.MechSCRAM512, "pw-alice-1", salt, 4096)
	cred := security.CredentialFromSalted(security.MechSCRAM512, salt, salted, 4096)
	if _, err := b.scram.Alter([]string{"alice"}, map[string][]security.SCRAMChange{"alice": {{Mechanism: security.MechSCRAM512, Cred: cred}}}); err != nil {
		t.Fatal(err)
	}
	return b
}

func roundTrip(t *testing.T, c net.Conn, req kmsg.Request, corr int32) []byte {
	t.Helper()
	if _, err := c.Write(encodeRequest(req, corr, "raw")); err != nil {
		t.Fatal(err)
	}
	got, body := readResponse(t, c, req.IsFlexible() && req.Key() != int16(kmsg.ApiVersions))
	if got != corr {
		t.Fatalf("correlation %d, want %d", got, corr)
	}
	return body
}

func TestSASLRawProtocol(t *testing.T) {
	b := saslBroker(t)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", b.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(10 * time.Second))
		t.Cleanup(func() { c.Close() })
		return c
	}
	handshake := func(c net.Conn, version int16, mech string) *kmsg.SASLHandshakeResponse {
		hs := kmsg.NewPtrSASLHandshakeRequest()
		hs.Version, hs.Mechanism = version, mech
		body := roundTrip(t, c, hs, 1)
		resp := kmsg.NewPtrSASLHandshakeResponse()
		resp.Version = version
		if err := resp.ReadFrom(body); err != nil {
			t.Fatal(err)
		}
		return resp
	}
	metadataWorks := func(c net.Conn) {
		t.Helper()
		md := kmsg.NewPtrMetadataRequest()
		md.Version = 1
		roundTrip(t, c, md, 9)
	}

	t.Run("v0 raw PLAIN token", func(t *testing.T) {
		c := dial()
		if r := handshake(c, 0, "PLAIN"); r.ErrorCode != 0 {
			t.Fatalf("handshake: %d", r.ErrorCode)
		}
		tok := []byte("\x00alice\x00pw-alice-1")
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
		var sz [4]byte
		if _, err := io.ReadFull(c, sz[:]); err != nil || binary.BigEndian.Uint32(sz[:]) != 0 {
			t.Fatalf("raw response: %v %v", err, sz)
		}
		metadataWorks(c)
	})
	t.Run("v0 raw PLAIN wrong password closes", func(t *testing.T) {
		c := dial()
		handshake(c, 0, "PLAIN")
		tok := []byte("\x00alice\x00wrong")
		c.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(tok))), tok...))
		expectClosed(t, c)
	})
	t.Run("v1 PLAIN", func(t *testing.T) {
		c := dial()
		handshake(c, 1, "plain")
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version = 2
		auth.SASLAuthBytes = []byte("alice\x00alice\x00pw-alice-1") // authzid = user is allowed
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = 2
		if err := resp.ReadFrom(roundTrip(t, c, auth, 2)); err != nil || resp.ErrorCode != 0 {
			t.Fatalf("authenticate: %v %d", err, resp.ErrorCode)
		}
		metadataWorks(c)
		// A second v1 handshake after authentication starts a re-authentication
		// (sasl_reauth_test.go); a v0 one is ILLEGAL_SASL_STATE.
		if r := handshake(c, 0, "PLAIN"); r.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("second handshake: %d", r.ErrorCode)
		}
	})
	t.Run("v1 wrong password answers then closes", func(t *testing.T) {
		c := dial()
		handshake(c, 1, "PLAIN")
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.Version = 1
		auth.SASLAuthBytes = []byte("\x00alice\x00nope")
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		resp.Version = 1
		if err := resp.ReadFrom(roundTrip(t, c, auth, 2)); err != nil || resp.ErrorCode != kerr.SaslAuthenticationFailed.Code {
			t.Fatalf("authenticate: %v %d", err, resp.ErrorCode)
		}
		if resp.ErrorMessage == nil || *resp.ErrorMessage != saslFailedMessage("PLAIN") {
			t.Fatalf("message %v", resp.ErrorMessage)
		}
		expectClosed(t, c)
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := dial()
		r := handshake(c, 1, "GSSAPI")
		if r.ErrorCode != kerr.UnsupportedSaslMechanism.Code || len(r.SupportedMechanisms) != 3 {
			t.Fatalf("handshake: %+v", r)
		}
		expectClosed(t, c)
	})
	t.Run("authenticate without handshake", func(t *testing.T) {
		c := dial()
		auth := kmsg.NewPtrSASLAuthenticateRequest()
		auth.SASLAuthBytes = []byte("\x00alice\x00pw-alice-1")
		resp := kmsg.NewPtrSASLAuthenticateResponse()
		if err := resp.ReadFrom(roundTrip(t, c, auth, 2)); err != nil || resp.ErrorCode != kerr.IllegalSaslState.Code {
			t.Fatalf("authenticate: %v %d", err, resp.ErrorCode)
		}
	})
	t.Run("api versions before auth", func(t *testing.T) {
		c := dial()
		av := kmsg.NewPtrApiVersionsRequest()
		av.Version = 3
		av.ClientSoftwareName, av.ClientSoftwareVersion = "raw", "1"
		roundTrip(t, c, av, 1)
	})
}
