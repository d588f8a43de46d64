import { runTraffic, type Caller, type TrafficOptions } from './traffic.js'

// The child process of startTraffic (traffic.ts): sends until told to stop, answers with its report.
process.once('message', (start: { url: string, callers: Caller[], options: TrafficOptions }) => {
  const traffic = runTraffic(start.url, start.callers, start.options)
  process.once('message', () => {
    void traffic.stop().then((report) => process.send!(report))
  })
  process.send!('started')
})
// The test's process is gone (or done with us): so are we.
process.on('disconnect', () => process.exit(0))
