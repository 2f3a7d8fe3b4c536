import WebSocket from 'ws';
const [port, token] = process.argv.slice(2);
const C = 20, N = 2000;
let done = 0; const t0 = Date.now();
for (let c = 0; c < C; c++) {
  const pub = new WebSocket(`ws://127.0.0.1:${port}/api/trpc`, {headers:{authorization:'Bearer '+token}});
  let replies = 0;
  pub.on('open', () => { for (let i = 0; i < N; i++) pub.send(JSON.stringify({id:i+10, method:'mutation', params:{path:'healthcare.createAlert', input:{hospitalId:'h'+(c%4),roomNumber:'A1',alertType:'fire',urgencyLevel:2}}})); });
  pub.on('message', ()=>{ if (++replies === N) { if (++done === C) { const dt = (Date.now()-t0)/1000; console.log('creates/s', (C*N/dt).toFixed(0)); process.exit(0);} } });
}
