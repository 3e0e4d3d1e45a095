package broker

// Zero-copy Fetch responses (sendfile). On a plain *net.TCPConn (PLAINTEXT, SASL_PLAINTEXT)
// fillFetch asks for sections instead of copied record bytes (readLocalSection) and marks
// them in the response (recordbufs.go); the connection worker (server.go) encodes the
// response with encodeSplicedFetch and writes it with writeSplicedFetch, after the
// authorizer and the ops metrics have seen it. A segment file deleted by retention stays
// open for a while, so its section can still be sent; a file closed meanwhile fails the
// write, which closes the connection. BenchmarkFetchResponseWrite measures the gain.
//
// How it works: each partition whose records come from a local segment file gets a
// unique 16-byte marker as RecordBatches; kmsg encodes the response; the marker is found
// in the encoding and replaced, together with its length prefix (int32 before v12, a
// compact uvarint from v12), by the section's real length and the section's bytes, which
// sendfile(2) copies from the page cache to the socket with an explicit file offset (so
// concurrent readers of the same *os.File do not race on its seek position).

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"syscall"

	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/strata-io/strata/partition"
)

// recordSection is a record set that stays where it is until the response is written:
// a byte range of an open segment file (f, off, n; sent with sendfile), or slices of
// cached remote chunks (bufs, n bytes in all; partition.ReadRemote), written with writev.
type recordSection struct {
	f    *os.File
	off  int64
	n    int64
	bufs [][]byte // read-only: they alias the chunk cache, and may be shared
}

// readLocalSection reads p's local log at offset as a section of its segment file
// (partition.ReadLocalSection); sec is nil when the log has no *os.File (tests' MemFS),
// which returns the bytes in data instead. ok=false: offset below the local log start.
func readLocalSection(p *partition.Partition, offset int64, maxBytes int, minOneBatch bool) (sec *recordSection, data []byte, ok bool, err error) {
	fs, data, ok, err := p.ReadLocalSection(offset, maxBytes, minOneBatch)
	if fs.File != nil {
		sec = &recordSection{f: fs.File, off: fs.Pos, n: fs.Size}
	}
	return sec, data, ok, err
}

// splicePiece is either bytes from memory or a record section.
type splicePiece struct {
	b   []byte
	sec *recordSection
}

// markerSeed makes markers unique to this process, so record bytes or names in a
// response cannot be mistaken for one.
var markerSeed = func() [8]byte {
	var s [8]byte
	if _, err := rand.Read(s[:]); err != nil {
		panic(err)
	}
	return s
}()

func spliceMarker(i int) []byte {
	m := make([]byte, 16)
	copy(m, markerSeed[:])
	binary.BigEndian.PutUint64(m[8:], uint64(i))
	return m
}

// encodeSplicedFetch frames resp (size, correlation id, flexible header tags) with the
// record sets of the partitions in secs left in their files.
func encodeSplicedFetch(resp *kmsg.FetchResponse, correlationID int32, secs map[*kmsg.FetchResponseTopicPartition]*recordSection) ([]splicePiece, int64, error) {
	type mark struct {
		m   []byte
		sec *recordSection
	}
	var marks []mark
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if sec, ok := secs[sp]; ok {
				m := spliceMarker(len(marks))
				sp.RecordBatches = m
				marks = append(marks, mark{m, sec})
			}
		}
	}
	// A buffer of its own (small: the records stay in the files), never a pooled large one.
	buf := appendResponse(make([]byte, 0, fetchResponseSizeHint(resp)), correlationID, resp)
	flexible := resp.IsFlexible()

	var pieces []splicePiece
	total := int64(len(buf) - 4)
	rest := buf
	for _, mk := range marks {
		at := bytes.Index(rest, mk.m)
		if at < 0 {
			return nil, 0, errors.New("broker: splice marker not found in the encoded fetch response")
		}
		var prefixLen int
		var lenField []byte
		if flexible {
			prefixLen = 1 // uvarint(16+1)
			lenField = binary.AppendUvarint(nil, uint64(mk.sec.n)+1)
		} else {
			prefixLen = 4
			lenField = binary.BigEndian.AppendUint32(nil, uint32(mk.sec.n))
		}
		if at < prefixLen {
			return nil, 0, errors.New("broker: splice marker without its length prefix")
		}
		pieces = append(pieces, splicePiece{b: rest[:at-prefixLen]}, splicePiece{b: lenField}, splicePiece{sec: mk.sec})
		total += int64(len(lenField)-prefixLen) + mk.sec.n - int64(len(mk.m))
		rest = rest[at+len(mk.m):]
	}
	pieces = append(pieces, splicePiece{b: rest})
	if total > int64(^uint32(0)>>1) {
		return nil, 0, fmt.Errorf("broker: spliced fetch response of %d bytes is too large", total)
	}
	binary.BigEndian.PutUint32(buf[0:4], uint32(total))
	return pieces, total + 4, nil
}

// writeSplicedFetch writes pieces to conn: on a TCP connection, runs of memory pieces
// (remote chunk slices included) with one writev each and file sections with sendfile;
// on other connections (TLS) through a buffered writer, so that small pieces do not
// become records of their own.
func writeSplicedFetch(conn net.Conn, pieces []splicePiece) error {
	if _, isTCP := conn.(*net.TCPConn); !isTCP {
		return writeSplicedBuffered(conn, pieces)
	}
	sc := conn.(syscall.Conn)
	var vec net.Buffers // memory not yet written
	flush := func() error {
		if len(vec) == 0 {
			return nil
		}
		_, err := vec.WriteTo(conn) // consumes vec (its own slice headers only)
		vec = vec[:0]
		return err
	}
	for _, pc := range pieces {
		switch {
		case pc.sec == nil:
			if len(pc.b) > 0 {
				vec = append(vec, pc.b)
			}
		case pc.sec.f == nil:
			vec = append(vec, pc.sec.bufs...) // copies the slice headers, never the bytes
		default:
			if err := flush(); err != nil {
				return err
			}
			if err := sendfileSection(sc, pc.sec); err != nil {
				return err
			}
		}
	}
	return flush()
}

// bufferedWriters are the 64 KiB writers of writeSplicedBuffered, reused across responses
// (one per response cost a 64 KiB allocation for every TLS fetch).
var bufferedWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 64<<10) }}

// writeSplicedBuffered writes pieces to a connection without sendfile or writev.
func writeSplicedBuffered(conn net.Conn, pieces []splicePiece) error {
	w := bufferedWriters.Get().(*bufio.Writer)
	w.Reset(conn)
	defer func() {
		w.Reset(nil) // drops unflushed bytes of a failed write and the connection
		bufferedWriters.Put(w)
	}()
	for _, pc := range pieces {
		var err error
		switch {
		case pc.sec == nil:
			_, err = w.Write(pc.b)
		case pc.sec.f == nil:
			for _, b := range pc.sec.bufs {
				if _, err = w.Write(b); err != nil {
					break
				}
			}
		default:
			_, err = io.Copy(w, io.NewSectionReader(pc.sec.f, pc.sec.off, pc.sec.n))
		}
		if err != nil {
			return err
		}
	}
	return w.Flush()
}

// sendfileSection copies sec to the socket with sendfile(2) and an explicit offset.
func sendfileSection(dst syscall.Conn, sec *recordSection) error {
	rc, err := dst.SyscallConn()
	if err != nil {
		return err
	}
	fc, err := sec.f.SyscallConn()
	if err != nil {
		return err
	}
	off, remain := sec.off, sec.n
	var serr error
	cerr := fc.Control(func(src uintptr) {
		werr := rc.Write(func(fd uintptr) bool {
			for remain > 0 {
				n, err := syscall.Sendfile(int(fd), int(src), &off, int(min(remain, 1<<30)))
				if n > 0 {
					remain -= int64(n)
				}
				switch {
				case err == syscall.EAGAIN:
					return false // wait until the socket is writable
				case err == syscall.EINTR:
					continue
				case err != nil:
					serr = fmt.Errorf("sendfile: %w", err)
					return true
				case n == 0:
					serr = fmt.Errorf("sendfile: %w", io.ErrUnexpectedEOF)
					return true
				}
			}
			return true
		})
		if werr != nil && serr == nil {
			serr = werr
		}
	})
	if cerr != nil {
		return cerr
	}
	return serr
}

// writeSplicedResponse writes resp, whose record sets rb marked as sections (some or all
// of them), framed, to nc (writeSplicedFetch).
func writeSplicedResponse(nc net.Conn, correlationID int32, resp *kmsg.FetchResponse, rb *recordBufs) error {
	secs := make(map[*kmsg.FetchResponseTopicPartition]*recordSection)
	for i := range resp.Topics {
		for j := range resp.Topics[i].Partitions {
			sp := &resp.Topics[i].Partitions[j]
			if sec := rb.sectionOf(sp.RecordBatches); sec != nil {
				secs[sp] = sec
			}
		}
	}
	pieces, _, err := encodeSplicedFetch(resp, correlationID, secs)
	if err != nil {
		return err
	}
	return writeSplicedFetch(nc, pieces)
}
