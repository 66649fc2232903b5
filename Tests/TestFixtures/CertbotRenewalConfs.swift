/// Renewal confs written by Debian 12's certbot 2.1.0 (package 2.1.0-4; `certbot --version`: "certbot 2.1.0")
/// against a local Pebble 2.4.0 (Debian package pebble 2.4.0+ds1-2+b4).
/// (generated once; see the comment on each for the certbot command line).
///
/// Each text is the file `<config-dir>/renewal/<cert-name>.conf`, verbatim including its final newline, except that
/// these sed substitutions were applied to every file (and to the command lines below):
/// `s#/tmp/cbfix/cfg#/etc/letsencrypt#g; s#/tmp/cbfix/work#/var/lib/letsencrypt#g;
/// s#/tmp/cbfix/logs#/var/log/letsencrypt#g; s#/tmp/cbfix/www#/var/www#g;
/// s#https://localhost:51129/dir#https://localhost:14000/dir#g`.
/// Account ids are as certbot wrote them (all five share the one account registered by the first command).
/// `config_dir`, `work_dir` and `logs_dir` appear only because they were given on the command line;
/// certbot leaves out options that were neither set nor different from the default (but always writes `server` and `key_type`).
///
/// `<common>` is: `--server https://localhost:14000/dir --config-dir /etc/letsencrypt --work-dir /var/lib/letsencrypt --logs-dir /var/log/letsencrypt --agree-tos --register-unsafely-without-email --non-interactive`
/// (run with `REQUESTS_CA_BUNDLE` set to Pebble's TLS certificate).
public enum CertbotRenewalConfs {
    /// `certbot certonly <common> --cert-name standalone.example.test -d standalone.example.test`
    /// `--standalone --http-01-port 45073 --key-type rsa --rsa-key-size 3072 --deploy-hook 'echo deployed' --pre-hook 'true'`
    /// (first command of the run: it registered the account; 45073 was Pebble's httpPort and is left as written.)
    /// Note: `--deploy-hook` is stored as `renew_hook`.
    public static let standaloneRSA = #"""
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/standalone.example.test
        cert = /etc/letsencrypt/live/standalone.example.test/cert.pem
        privkey = /etc/letsencrypt/live/standalone.example.test/privkey.pem
        chain = /etc/letsencrypt/live/standalone.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/standalone.example.test/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        account = 310de1cd76466abd031e0e09a379e650
        http01_port = 45073
        rsa_key_size = 3072
        key_type = rsa
        pre_hook = true
        renew_hook = echo deployed
        config_dir = /etc/letsencrypt
        work_dir = /var/lib/letsencrypt
        logs_dir = /var/log/letsencrypt
        server = https://localhost:14000/dir
        authenticator = standalone

        """#

    /// `certbot certonly <common> --cert-name webroot.example.test --webroot -w /var/www/root1 -d a.example.test`
    /// `-w /var/www/root2 -d b.example.test --preferred-chain "Pebble Root CA"`
    /// (root1 and root2 were symlinks to one directory served on Pebble's httpPort; default key type, so ECDSA.)
    /// Note: `webroot_path` is a ConfigObj list (`a, b`), followed by the `[[webroot_map]]` subsection.
    public static let webrootMap = #"""
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/webroot.example.test
        cert = /etc/letsencrypt/live/webroot.example.test/cert.pem
        privkey = /etc/letsencrypt/live/webroot.example.test/privkey.pem
        chain = /etc/letsencrypt/live/webroot.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/webroot.example.test/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        account = 310de1cd76466abd031e0e09a379e650
        preferred_chain = Pebble Root CA
        config_dir = /etc/letsencrypt
        work_dir = /var/lib/letsencrypt
        logs_dir = /var/log/letsencrypt
        server = https://localhost:14000/dir
        authenticator = webroot
        webroot_path = /var/www/root1, /var/www/root2
        key_type = ecdsa
        [[webroot_map]]
        a.example.test = /var/www/root1
        b.example.test = /var/www/root2

        """#

    /// `certbot certonly <common> --cert-name wildcard.example.test --manual --preferred-challenges dns`
    /// `--manual-auth-hook /etc/letsencrypt/hooks/dns-auth.sh --manual-cleanup-hook /etc/letsencrypt/hooks/dns-cleanup.sh`
    /// `-d '*.example.test' -d example.test`
    /// (the hooks POST to pebble-challtestsrv's /set-txt and /clear-txt.)
    /// Note: `pref_challs = dns-01,` is a one-element ConfigObj list (trailing comma).
    public static let manualDNSWildcard = #"""
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/wildcard.example.test
        cert = /etc/letsencrypt/live/wildcard.example.test/cert.pem
        privkey = /etc/letsencrypt/live/wildcard.example.test/privkey.pem
        chain = /etc/letsencrypt/live/wildcard.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/wildcard.example.test/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        account = 310de1cd76466abd031e0e09a379e650
        pref_challs = dns-01,
        config_dir = /etc/letsencrypt
        work_dir = /var/lib/letsencrypt
        logs_dir = /var/log/letsencrypt
        server = https://localhost:14000/dir
        authenticator = manual
        manual_auth_hook = /etc/letsencrypt/hooks/dns-auth.sh
        manual_cleanup_hook = /etc/letsencrypt/hooks/dns-cleanup.sh
        key_type = ecdsa

        """#

    /// `certbot certonly <common> --cert-name reuse.example.test -d reuse.example.test --webroot -w /var/www/serve`
    /// `--key-type ecdsa --elliptic-curve secp384r1 --reuse-key`
    /// Note: `webroot_path = /var/www/serve,` is a one-element list (trailing comma). A later
    /// `certbot renew --force-renewal --cert-name reuse.example.test` kept the key and left this file byte-for-byte unchanged.
    public static let reuseKeyP384 = #"""
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/reuse.example.test
        cert = /etc/letsencrypt/live/reuse.example.test/cert.pem
        privkey = /etc/letsencrypt/live/reuse.example.test/privkey.pem
        chain = /etc/letsencrypt/live/reuse.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/reuse.example.test/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        reuse_key = True
        account = 310de1cd76466abd031e0e09a379e650
        key_type = ecdsa
        elliptic_curve = secp384r1
        config_dir = /etc/letsencrypt
        work_dir = /var/lib/letsencrypt
        logs_dir = /var/log/letsencrypt
        server = https://localhost:14000/dir
        authenticator = webroot
        webroot_path = /var/www/serve,
        [[webroot_map]]
        reuse.example.test = /var/www/serve

        """#

    /// `certbot certonly <common> --cert-name hooks.example.test -d hooks.example.test --webroot -w /var/www/serve`
    /// `--pre-hook 'echo a, b' --post-hook 'echo "x" # y' --deploy-hook "echo \"it's\""`
    /// Shows ConfigObj quoting: `"..."` for a comma, `'...'` for `"` and `#`, `'''...'''` when both quote kinds occur.
    /// A later `certbot renew --force-renewal --cert-name hooks.example.test` left this file byte-for-byte unchanged.
    public static let quotedHooks = #"""
        # renew_before_expiry = 30 days
        version = 2.1.0
        archive_dir = /etc/letsencrypt/archive/hooks.example.test
        cert = /etc/letsencrypt/live/hooks.example.test/cert.pem
        privkey = /etc/letsencrypt/live/hooks.example.test/privkey.pem
        chain = /etc/letsencrypt/live/hooks.example.test/chain.pem
        fullchain = /etc/letsencrypt/live/hooks.example.test/fullchain.pem

        # Options used in the renewal process
        [renewalparams]
        account = 310de1cd76466abd031e0e09a379e650
        pre_hook = "echo a, b"
        post_hook = 'echo "x" # y'
        renew_hook = '''echo "it's"'''
        config_dir = /etc/letsencrypt
        work_dir = /var/lib/letsencrypt
        logs_dir = /var/log/letsencrypt
        server = https://localhost:14000/dir
        authenticator = webroot
        webroot_path = /var/www/serve,
        key_type = ecdsa
        [[webroot_map]]
        hooks.example.test = /var/www/serve

        """#
}
