"""The pandas tables and Altair charts that pages draw, and the small text helpers beside them.

Nothing here imports Streamlit: a page lays these out, and tests check them without a browser.
One module per page's subject: `comparison` (Runs), `evaluation` (Evaluate), `data` (Data,
Predict), `live` (Train's curves), `train_form` (the Train form and its TrainConfig), `search`
(Search), `labs` (the classroom labs), with `pictures` and `formatting` shared."""
