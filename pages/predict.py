import streamlit as st

st.title("predict")
st.info("This page is being written.")
