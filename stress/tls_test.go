package stress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/zdkit/zdkit/pkg/tid"
	"github.com/zdkit/zdkit/pkg/zeo/client"
)

// keyPair is a throwaway certificate and its key.
type keyPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

var serialNo int64

// issue makes a certificate for cn signed by parent (self-signed when
// parent is nil), valid from notBefore for life.
func issue(t *testing.T, cn string, parent *keyPair, isCA bool, notBefore time.Time, life time.Duration) *keyPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serialNo++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serialNo),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(life),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage |= x509.KeyUsageCertSign
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &keyPair{cert: c, key: key, der: der}
}

// writeKeyPair writes name.pem and name.key into dir.
func writeKeyPair(t *testing.T, dir, name string, kp *keyPair) (certFile, keyFile string) {
	t.Helper()
	certFile, keyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+".key")
	kb, err := x509.MarshalECPrivateKey(kp.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: kp.der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

func (kp *keyPair) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{kp.der}, PrivateKey: kp.key, Leaf: kp.cert}
}

// TestTLSClientCertificates: runzeo with <ssl> requires a client
// certificate chaining to `authenticate`; clients without one, with one
// from another CA, with an expired one, or speaking plain TCP are
// refused, and a valid client still commits afterwards.
func TestTLSClientCertificates(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	now := time.Now()
	ca := issue(t, "stress CA", nil, true, now.Add(-time.Hour), 2*time.Hour)
	rogueCA := issue(t, "rogue CA", nil, true, now.Add(-time.Hour), 2*time.Hour)
	serverKP := issue(t, "127.0.0.1", ca, false, now.Add(-time.Hour), 2*time.Hour)
	good := issue(t, "good client", ca, false, now.Add(-time.Hour), 2*time.Hour)
	rogue := issue(t, "rogue client", rogueCA, false, now.Add(-time.Hour), 2*time.Hour)
	expired := issue(t, "expired client", ca, false, now.Add(-3*time.Hour), time.Hour)
	caFile, _ := writeKeyPair(t, dir, "ca", ca)
	certFile, keyFile := writeKeyPair(t, dir, "server", serverKP)

	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	cfg := func(certs ...tls.Certificate) *tls.Config {
		c := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if len(certs) > 0 {
			// Present the certificate even when it does not match the
			// CAs the server asks for: the server must do the refusing.
			c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &certs[0], nil }
		}
		return c
	}
	path := filepath.Join(dir, "Data.fs")
	addr := freeAddr(t)
	conf := fsConf(path, "  <ssl>\n    certificate "+certFile+"\n    key "+keyFile+"\n    authenticate "+caFile+"\n  </ssl>", "")
	p, err := tryStartZEO(t, dir, addr, conf, func() bool {
		nc, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			nc.Close()
		}
		return err == nil
	})
	if err != nil {
		t.Fatal(err)
	}

	refused := []struct {
		name string
		opts client.Options
	}{
		{"no client certificate", client.Options{TLS: cfg()}},
		{"certificate from another CA", client.Options{TLS: cfg(rogue.tlsCert())}},
		{"expired certificate", client.Options{TLS: cfg(expired.tlsCert())}},
		{"plain TCP", client.Options{Timeout: time.Second}},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			c, err := tryDial(addr, r.opts)
			if err == nil {
				c.Close()
				t.Fatalf("a client with %s was served", r.name)
			}
			t.Logf("%s refused: %v", r.name, err)
		})
	}
	c := dial(t, addr, client.Options{TLS: cfg(good.tlsCert())})
	oids, err := c.NewOIDs(1)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := commit(c, oids, []tid.TID{0}, [][]byte{record(t, "over TLS")})
	if err != nil {
		t.Fatalf("commit over TLS: %v", err)
	}
	if data, s, err := c.Load(oids[0]); err != nil || s != nt || string(data) != string(record(t, "over TLS")) {
		t.Fatalf("load over TLS: %q at %s (%v)", data, s, err)
	}
	c.Close()
	p.stop()
	fstest(t, path)
}
