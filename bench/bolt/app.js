// The smallest Bolt for JavaScript app that does what the bot does for
// `/notebook status foo`: verify Slack's signature (Bolt's HTTPReceiver does),
// acknowledge at once, then post one answer to the command's response_url.
//
// bench/run copies this file next to a fresh `npm install @slack/bolt` and runs
//   SLACK_SIGNING_SECRET=... node app.js PORT
// GET /healthz (a Bolt custom route) answers "ok", so start-up is measured the
// same way as the bot's: exec to the first 200 from /healthz.
const { App, LogLevel } = require('@slack/bolt');

const app = new App({
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  // The bot's route; Bolt's default is /slack/events.
  endpoints: '/slack/commands',
  // A single-workspace app. Giving the bot's ids skips auth.test (there is no
  // Slack here); a deployed app would call it once at start, not per request.
  token: 'bench-token-never-used',
  botId: 'B0BENCH',
  botUserId: 'U0BENCH',
  tokenVerificationEnabled: false,
  // Bolt's default: nothing is logged per request.
  logLevel: LogLevel.INFO,
  customRoutes: [
    {
      path: '/healthz',
      method: ['GET'],
      handler: (req, res) => {
        res.writeHead(200, { 'Content-Type': 'text/plain' });
        res.end('ok');
      },
    },
  ],
});

app.command('/notebook', async ({ ack, respond }) => {
  await ack();
  // The bot's answer to `/notebook status foo` in a dry run: text and a card.
  await respond({
    "text": "`foo` is *stopped*\n• machine type: dry-run (simulated) _(dry run: nothing was sent to Google or GitHub)_",
    "blocks": [
      {
        "type": "section",
        "text": {
          "type": "mrkdwn",
          "text": "`foo` is *stopped*\n• machine type: dry-run (simulated) _(dry run: nothing was sent to Google or GitHub)_"
        }
      },
      {
        "type": "actions",
        "block_id": "card:foo",
        "elements": [
          {
            "type": "button",
            "action_id": "notebook_start",
            "text": {
              "type": "plain_text",
              "text": "Start"
            },
            "value": "foo",
            "style": "primary"
          },
          {
            "type": "button",
            "action_id": "notebook_refresh",
            "text": {
              "type": "plain_text",
              "text": "Refresh"
            },
            "value": "foo"
          }
        ]
      }
    ],
    "replace_original": false
  });
});

app.error(async (error) => {
  console.error('bolt error:', error && error.message);
});

(async () => {
  await app.start(Number(process.argv[2] || process.env.PORT));
})();
