import Testing
import Issuance

@Suite("Certificate Transparency notice")
struct TransparencyNoticeTests {
    @Test("public CAs get the notice; local, private and test CAs do not")
    func classification() {
        #expect(TransparencyNotice.applies(server: "https://acme-v02.api.letsencrypt.org/directory", caBundle: nil))
        #expect(TransparencyNotice.applies(server: "https://acme-staging-v02.api.letsencrypt.org/directory", caBundle: nil))
        #expect(TransparencyNotice.applies(server: "https://acme.zerossl.com/v2/DV90", caBundle: nil))
        #expect(!TransparencyNotice.applies(server: "https://acme-v02.api.letsencrypt.org/directory", caBundle: "/etc/private-ca.pem"))
        for local in ["https://localhost:14000/dir", "https://127.0.0.1:14000/dir", "https://10.0.0.5/acme/dir",
                      "https://192.168.1.2/dir", "https://172.20.0.3/dir", "https://ca.corp/acme", "https://step.internal/acme/acme/directory",
                      "https://[::1]:14000/dir", "https://pebble.test:14000/dir"] {
            #expect(!TransparencyNotice.applies(server: local, caBundle: nil), "\(local)")
        }
    }

    @Test("the text names the hosts and suggests the wildcard of the parent domain")
    func text() {
        let text = TransparencyNotice.text(names: ["mail.example.com", "smtp.example.com"])
        #expect(text.contains("mail.example.com, smtp.example.com"))
        #expect(text.contains("*.example.com"))
        #expect(text.contains("Certificate Transparency"))
    }
}
