//! A moto_server of one's own for a contract test: started on a free 127.0.0.1 port, stopped on drop, with fake
//! static credentials, so that nothing reaches AWS (or any address but loopback).
//!
//! moto comes from PyPI, pinned in the Makefile (`make moto`, which installs it for `python3`). The server runs as
//! `moto_server.py` beside this crate's manifest (moto's server with one answer made to match AWS's), under
//! `$MOTO_PYTHON`, else `python3`.

use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The region every test client uses.
pub const REGION: &str = "eu-west-1";
/// moto's default account id, as it appears in ARNs.
pub const ACCOUNT: &str = "123456789012";

/// The requests [`Moto::iam_credentials`] makes, which a signature-checking server lets through unsigned.
pub const UNSIGNED_SETUP_CALLS: u32 = 3;

/// moto imports every service before it listens: slow on a loaded machine.
const START_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug)]
pub struct Moto {
    child: Child,
    address: SocketAddr,
}

impl Moto {
    /// Starts a server and waits until it accepts connections.
    ///
    /// # Panics
    /// When no moto server can be started: the message says how to install it.
    pub fn start() -> Self {
        Self::start_with(&[])
    }

    /// A server that checks every request's SigV4 signature (with botocore's signer) and its IAM permissions, as
    /// AWS does, for credentials made by [`Moto::iam_credentials`]. Its first [`UNSIGNED_SETUP_CALLS`] requests are
    /// let through unchecked: the IAM calls that make those credentials.
    pub fn start_verifying_signatures() -> Self {
        Self::start_with(&[("INITIAL_NO_AUTH_ACTION_COUNT", &UNSIGNED_SETUP_CALLS.to_string())])
    }

    fn start_with(env: &[(&str, &str)]) -> Self {
        let mut child = spawn(env);
        match listening_port(&mut child) {
            Some(port) => Self { child, address: SocketAddr::from((Ipv4Addr::LOCALHOST, port)) },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "moto_server did not start on 127.0.0.1; run `make moto` (python3 -c 'import moto.server' must work)"
                );
            }
        }
    }

    /// `http://127.0.0.1:<port>`: the endpoint of every service.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.address)
    }

    /// An SDK configuration for this server: fake static credentials, [`REGION`], the server's endpoint, and no
    /// retries by the SDK (the adapters retry themselves).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        use aws_config::{BehaviorVersion, Region, retry::RetryConfig};
        let credentials = aws_credential_types::Credentials::new("testing", "testing", None, None, "moto");
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .credentials_provider(credentials)
            .endpoint_url(self.endpoint())
            .retry_config(RetryConfig::disabled())
            .load()
            .await
    }
}

impl Moto {
    /// Sets how moto moves a model through its states (`/moto-api/state-manager/set-transition`), e.g.
    /// `("ecs::task", r#"{"progression": "manual", "times": 1000}"#)` keeps ECS tasks running for 1,000 reads.
    pub fn set_transition(&self, model: &str, transition: &str) {
        let body = format!(r#"{{"model_name": "{model}", "transition": {transition}}}"#);
        self.post("/moto-api/state-manager/set-transition", "application/json", &[], &body);
    }

    /// An EC2 Query API call (`Action=DescribeSubnets&Version=2016-11-15`), answered in XML: for the few EC2
    /// objects a test needs, without linking the EC2 SDK.
    pub fn ec2(&self, form: &str) -> String {
        self.post("/", "application/x-www-form-urlencoded", &[("Authorization", &signature("ec2"))], form)
    }

    /// An IAM user allowed everything, and its access key: `(access key id, secret)`. On a server from
    /// [`Moto::start_verifying_signatures`], only requests signed with these pass. Call it first, once.
    pub fn iam_credentials(&self) -> (String, String) {
        let iam = |form: &str| {
            self.post("/", "application/x-www-form-urlencoded", &[("Authorization", &signature("iam"))], form)
        };
        iam("Action=CreateUser&UserName=tradesim&Version=2010-05-08");
        let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"*","Resource":"*"}]}"#;
        let policy: String = policy.bytes().map(|byte| format!("%{byte:02X}")).collect();
        iam(&format!(
            "Action=PutUserPolicy&UserName=tradesim&PolicyName=all&PolicyDocument={policy}&Version=2010-05-08"
        ));
        let key = iam("Action=CreateAccessKey&UserName=tradesim&Version=2010-05-08");
        let field = |name: &str| {
            let open = format!("<{name}>");
            let start = key.find(&open).map(|at| at + open.len()).expect("CreateAccessKey answers the key");
            key[start..].split('<').next().unwrap_or_default().to_owned()
        };
        (field("AccessKeyId"), field("SecretAccessKey"))
    }

    /// One HTTP/1.1 POST, answered with the body; panics on a status other than 2xx.
    fn post(&self, path: &str, content_type: &str, headers: &[(&str, &str)], body: &str) -> String {
        use std::io::{Read, Write};
        let mut stream = TcpStream::connect(self.address).expect("moto_server is not listening");
        let headers: String = headers.iter().map(|(name, value)| format!("{name}: {value}\r\n")).collect();
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\n{headers}\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).expect("writing to moto_server");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("reading from moto_server");
        let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
        assert!(head.starts_with("HTTP/1.1 2"), "moto_server answered {path}: {answer}");
        body.to_owned()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A SigV4 header moto reads the service and region from; moto does not check the signature.
fn signature(service: &str) -> String {
    format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/{service}/aws4_request, SignedHeaders=host, Signature=0"
    )
}

fn spawn(env: &[(&str, &str)]) -> Child {
    let python = std::env::var("MOTO_PYTHON").ok().filter(|path| !path.is_empty()).unwrap_or_else(|| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/moto_server.py");
    Command::new(&python)
        .arg(script)
        .arg(Ipv4Addr::LOCALHOST.to_string())
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|error| panic!("cannot start {python} {script} ({error}); run `make moto`"))
}

/// The port the server prints once it listens, unless it exits or the start timeout passes first.
fn listening_port(child: &mut Child) -> Option<u16> {
    use std::io::{BufRead, BufReader};
    let stdout = child.stdout.take()?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = BufReader::new(stdout);
        let mut line = String::new();
        let _ = reader.read_line(&mut line);
        let _ = sender.send(line);
        // Whatever moto prints later must not meet a closed pipe.
        let _ = std::io::copy(&mut reader, &mut std::io::sink());
    });
    receiver.recv_timeout(START_TIMEOUT).ok()?.trim().parse().ok()
}
