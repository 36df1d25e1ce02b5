package wire

import (
	"errors"
	"fmt"
)

// Encoding is the marshalling letter of the protocol id: 'Z' (pickle) or
// 'M' (msgpack).
type Encoding byte

const (
	Pickle  Encoding = 'Z'
	Msgpack Encoding = 'M'
)

// ProtocolVersion is the only protocol version ZEO 5/6 speak.
const ProtocolVersion = "5"

// ErrHandshake reports a first message that is neither a protocol id we
// speak nor "ruok".
var ErrHandshake = errors.New("zeo: bad handshake")

// ErrMessage reports a frame that decodes but is not an RPC 4-tuple.
var ErrMessage = errors.New("zeo: bad message")

// ProtocolID is the handshake frame for an encoding ("Z5" / "M5").
func (e Encoding) ProtocolID() []byte { return []byte{byte(e), '5'} }

func (e Encoding) String() string {
	switch e {
	case Pickle:
		return "pickle"
	case Msgpack:
		return "msgpack"
	}
	return fmt.Sprintf("encoding(%q)", byte(e))
}

// ParseProtocolID checks a peer's protocol id. Like ZEO's server it looks at
// the version only and returns the encoding the peer named
// (ZEO 6.0 ServerProtocol.finish_connection).
func ParseProtocolID(b []byte) (Encoding, error) {
	if len(b) < 2 || string(b[1:]) != ProtocolVersion || (b[0] != 'Z' && b[0] != 'M') {
		return 0, fmt.Errorf("%w %q", ErrHandshake, b)
	}
	return Encoding(b[0]), nil
}

// Marshal encodes one value.
func (e Encoding) Marshal(v any) ([]byte, error) {
	if e == Msgpack {
		return EncodeMsgpack(v)
	}
	return EncodePickle(v)
}

// Unmarshal decodes one value.
func (e Encoding) Unmarshal(b []byte) (any, error) {
	if e == Msgpack {
		return DecodeMsgpack(b)
	}
	return DecodePickle(b)
}

// Message is the RPC 4-tuple (docs/design/wire-protocol.md).
type Message struct {
	ID     any    // int counter, 0 (async), -1 (heartbeat) or the (oid, tid) tuple of loadBefore
	Flags  any    // False/True from clients; 0, 2 (error) or True from servers
	Method string // method name, or ".reply"
	Args   any    // a Tuple for calls; any value for replies
}

// Flag values.
const (
	FlagReply = int64(0)
	FlagError = int64(2)
)

// ReplyMethod is the method name of replies and heartbeats.
const ReplyMethod = ".reply"

// Async reports a one-way call (any truthy flag on a call).
func (m Message) Async() bool { return m.Method != ReplyMethod && Truthy(m.Flags) }

// IsError reports an exception reply: any truthy flag on ".reply" (Python
// clients' rule; the value sent is 2).
func (m Message) IsError() bool { return m.Method == ReplyMethod && Truthy(m.Flags) }

// IsHeartbeat reports the (-1, 0, '.reply', None) keep-alive.
func (m Message) IsHeartbeat() bool {
	i, ok := AsInt(m.ID)
	_, isBool := m.ID.(bool)
	return ok && !isBool && i == -1
}

// Encode marshals the message.
func (e Encoding) Encode(m Message) ([]byte, error) {
	return e.Marshal(Tuple{m.ID, m.Flags, m.Method, m.Args})
}

// Decode unmarshals a message and checks its shape.
func (e Encoding) Decode(b []byte) (Message, error) {
	v, err := e.Unmarshal(b)
	if err != nil {
		return Message{}, err
	}
	t, ok := v.(Tuple)
	if !ok || len(t) != 4 {
		return Message{}, fmt.Errorf("%w: not a 4-tuple: %.200s", ErrMessage, Repr(v))
	}
	name, ok := AsString(t[2])
	if !ok {
		return Message{}, fmt.Errorf("%w: method name is %T", ErrMessage, t[2])
	}
	return Message{ID: t[0], Flags: t[1], Method: name, Args: t[3]}, nil
}

// Heartbeat is the keep-alive message ZEO clients send every 60 s.
var Heartbeat = Message{ID: int64(-1), Flags: int64(0), Method: ReplyMethod, Args: nil}
