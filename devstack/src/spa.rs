//! The single-page app's build (`frontend/dist`) at `/`: a file when the path names one, else `index.html` (the
//! app routes in the browser); a page that says how to build it when there is no build.

use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use std::path::{Component, Path, PathBuf};

#[derive(Clone, Debug)]
pub struct Spa {
    dist: PathBuf,
}

const NOT_BUILT: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>tradesim</title></head><body>\
<h1>tradesim</h1><p>The web app is not built yet. Build it with <code>cd frontend &amp;&amp; npm ci &amp;&amp; npm run \
build</code> and reload this page.</p><p>The API is up: see <a href=\"/v1/openapi.json\">/v1/openapi.json</a>.</p>\
</body></html>";

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" | "map" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

impl Spa {
    pub fn new(dist: impl Into<PathBuf>) -> Self {
        Self { dist: dist.into() }
    }

    /// The file for a request path, never outside `dist`.
    fn file_for(&self, request_path: &str) -> PathBuf {
        let relative = Path::new(request_path.trim_start_matches('/'));
        let inside = relative.components().all(|c| matches!(c, Component::Normal(_)));
        let candidate = self.dist.join(relative);
        if inside && !request_path.ends_with('/') && candidate.is_file() {
            candidate
        } else {
            self.dist.join("index.html")
        }
    }

    pub async fn serve(&self, request_path: &str) -> Response {
        let file = self.file_for(request_path);
        match tokio::fs::read(&file).await {
            Ok(bytes) => ([(header::CONTENT_TYPE, content_type(&file))], bytes).into_response(),
            Err(_) => (StatusCode::OK, Html(NOT_BUILT)).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn files_are_served_app_routes_get_the_index_and_nothing_escapes() {
        let dist = std::env::temp_dir().join(format!("tradesim-spa-{}", std::process::id()));
        std::fs::create_dir_all(dist.join("assets")).unwrap();
        std::fs::write(dist.join("index.html"), "<html>app</html>").unwrap();
        std::fs::write(dist.join("assets/app.js"), "console.log(1)").unwrap();
        let spa = Spa::new(&dist);
        assert_eq!(spa.file_for("/assets/app.js"), dist.join("assets/app.js"));
        assert_eq!(spa.file_for("/login"), dist.join("index.html"));
        assert_eq!(spa.file_for("/../../etc/passwd"), dist.join("index.html"));
        let js = spa.serve("/assets/app.js").await;
        assert_eq!(js.headers()[header::CONTENT_TYPE], "text/javascript; charset=utf-8");
        std::fs::remove_dir_all(&dist).unwrap();

        let missing = Spa::new(dist.join("nothing")).serve("/").await;
        let body = axum::body::to_bytes(missing.into_body(), 1 << 16).await.unwrap();
        assert!(String::from_utf8_lossy(&body).contains("npm run build"));
    }
}
