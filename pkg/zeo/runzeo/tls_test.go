package runzeo

import (
	"context"
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

	"github.com/zdkit/zdkit/pkg/zeo/client"
	"github.com/zdkit/zdkit/pkg/zeo/mappingstorage"
	"github.com/zdkit/zdkit/pkg/zeo/server"
	"github.com/zdkit/zdkit/pkg/zeo/storage"
)

type certPair struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	der  []byte
}

func makeCert(t *testing.T, cn string, parent *certPair, isCA bool) *certPair {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
		IsCA:         isCA, BasicConstraintsValid: true,
	}
	signer, signKey := tmpl, key
	if parent != nil {
		signer, signKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signer, &key.PublicKey, signKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &certPair{cert: c, key: key, der: der}
}

func writePEM(t *testing.T, dir, name string, p *certPair) (certFile, keyFile string) {
	t.Helper()
	certFile = filepath.Join(dir, name+".pem")
	keyFile = filepath.Join(dir, name+".key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.der}), 0o600)
	kb, _ := x509.MarshalECPrivateKey(p.key)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	return
}

// The <ssl> section requires client certificates that chain to
// `authenticate` (ZEO 6.0 sslconfig.server_ssl: CERT_REQUIRED): a client with a certificate from
// that CA works, one without a certificate, or from another CA, does not.
func TestSSLSection(t *testing.T) {
	dir := t.TempDir()
	ca := makeCert(t, "zeo-ca", nil, true)
	other := makeCert(t, "other-ca", nil, true)
	srvCert := makeCert(t, "zeo-server", ca, false)
	cliCert := makeCert(t, "zeo-client", ca, false)
	badCert := makeCert(t, "intruder", other, false)
	caFile, _ := writePEM(t, dir, "ca", ca)
	sc, sk := writePEM(t, dir, "server", srvCert)
	conf := filepath.Join(dir, "zeo.conf")
	os.WriteFile(conf, []byte("<zeo>\n address 127.0.0.1:0\n <ssl>\n  certificate "+sc+"\n  key "+sk+"\n  authenticate "+caFile+"\n </ssl>\n</zeo>\n<mappingstorage/>\n"), 0o600)
	res, err := parser().Parse([]string{"-C", conf})
	if err != nil {
		t.Fatal(err)
	}
	s, err := configure(res)
	if err != nil {
		t.Fatal(err)
	}
	if s.tls == nil || s.tls.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Fatalf("tls config %+v", s.tls)
	}
	srv, err := server.New(map[string]storage.Storage{"1": mappingstorage.New("", false)}, server.Options{TLS: s.tls})
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { srv.Serve(l); close(done) }()
	t.Cleanup(func() { srv.Close(); <-done })
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	clientTLS := func(p *certPair) *tls.Config {
		cfg := &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}
		if p != nil {
			cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{p.der}, PrivateKey: p.key}}
		}
		return cfg
	}
	dial := func(p *certPair) (*client.Client, error) {
		return client.Dial(context.Background(), []string{l.Addr().String()}, client.Options{TLS: clientTLS(p), Timeout: 5 * time.Second})
	}
	c, err := dial(cliCert)
	if err != nil {
		t.Fatalf("client with a good certificate: %v", err)
	}
	if err := c.Ping(); err != nil {
		t.Errorf("ping over TLS: %v", err)
	}
	c.Close()
	for name, p := range map[string]*certPair{"no certificate": nil, "foreign CA": badCert} {
		if c, err := dial(p); err == nil {
			err = c.Ping()
			c.Close()
			if err == nil {
				t.Errorf("client with %s was served", name)
			}
		}
	}
}
