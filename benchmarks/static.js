// Minimal static file server for the benchmark (keep-alive, no caching logic).
const http = require('http'), fs = require('fs'), path = require('path');
const root = process.argv[2], port = +process.argv[3];
http.createServer((req, res) => {
  const p = path.join(root, decodeURIComponent(req.url.split('?')[0]));
  if (!p.startsWith(root)) { res.writeHead(403); return res.end(); }
  fs.readFile(p, (err, data) => {
    if (err) { res.writeHead(404); return res.end('not found\n'); }
    res.writeHead(200, {'Content-Type': 'application/octet-stream', 'Content-Length': data.length});
    res.end(data);
  });
}).listen(port, '127.0.0.1');
